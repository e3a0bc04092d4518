// bin/ward runs the frontend as one bundle in dist/src/cli (scripts/bundle-frontend.js), where
// every module's __dirname is dist/src/cli. A frontend module that finds a file from __dirname
// must therefore climb to dist/src first ('..', then its room): the same path bundled or not.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../lib/env';

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

test('frontend modules reach files from __dirname through dist/src, so the bundle finds them too', () => {
  const bad: string[] = [];
  for (const file of sources(path.join(REPO, 'src'))) {
    const rel = path.relative(path.join(REPO, 'src'), file);
    if (rel.startsWith('helper/')) continue; // the helper is not bundled
    fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (!line.includes('__dirname')) return;
      const ok = /path\.join\(__dirname, '\.\.'/.test(line) && rel.split('/').length === 2;
      if (!ok) bad.push(`${rel}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(bad, []);
});

test('the bundle is as new as the modules it was built from', () => {
  const bundle = fs.statSync(path.join(REPO, 'dist', 'src', 'cli', 'ward.js')).mtimeMs;
  const main = fs.statSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')).mtimeMs;
  assert.ok(bundle >= main, 'dist/src/cli/ward.js is older than main.js: run npm run build');
});
