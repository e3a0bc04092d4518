#!/usr/bin/env node
// Runs the whole suite with node's test runner: unit, integration, adversarial, conformance.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const files = [];
for (const dir of ['unit', 'integration', 'adversarial', 'conformance']) {
  const d = path.join(root, 'dist', 'test', dir);
  if (!fs.existsSync(d)) continue;
  for (const f of fs.readdirSync(d).sort()) if (f.endsWith('.test.js')) files.push(path.join(d, f));
}
if (files.length === 0) {
  console.error('run-tests: no compiled tests under dist/test; run npm run build');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
