#!/usr/bin/env node
// Bundles the frontend (dist/src/cli/main.js and what it requires) into dist/src/cli/ward.js,
// which bin/ward runs: one file read instead of resolving and loading some sixty modules is
// most of what `ward run` spends before it reaches the helper. The bundle sits beside main.js
// so every path computed from __dirname stays the same. Native addons stay outside, and so do
// the large libraries only some commands use, loaded from node_modules when needed.
'use strict';
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
esbuild.buildSync({
  entryPoints: [path.join(root, 'dist', 'src', 'cli', 'main.js')],
  outfile: path.join(root, 'dist', 'src', 'cli', 'ward.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['ffi-rs', 'openpgp', 'zod', 'yaml'],
  logLevel: 'warning',
});
