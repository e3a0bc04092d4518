// bin/ward compiles the frontend bundle from the V8 code cache made at build time. A cache V8
// rejects, or one made before anything ran (only the bundle's top level compiled), would leave
// every command compiling the functions it runs again: both checked here, as bin/ward loads it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { test } from 'node:test';
import { REPO } from '../lib/env';

const bundle = path.join(REPO, 'dist', 'src', 'cli', 'ward.js');
const wrap = (): string => `(function (exports, require, module, __filename, __dirname) { ${fs.readFileSync(bundle, 'utf8')}\n});`;

test('the shipped code cache is accepted by this node', () => {
  const script = new vm.Script(wrap(), { filename: bundle, cachedData: fs.readFileSync(`${bundle}.cache`) });
  assert.equal(script.cachedDataRejected, false);
});

test('the shipped code cache was trained on a run (it holds more than the top level)', () => {
  const untrained = new vm.Script(wrap(), { filename: bundle }).createCachedData().length;
  const shipped = fs.statSync(`${bundle}.cache`).size;
  // The top level alone is some 40 kB; the functions `ward run` calls roughly triple it.
  assert.ok(shipped > 2 * untrained, `the code cache (${shipped} bytes) is not much larger than an untrained one (${untrained} bytes): was scripts/train-code-cache.js skipped?`);
});

test('zod, bundled on its own, is loaded from its code cache, which V8 accepts', () => {
  const zod = path.join(REPO, 'dist', 'src', 'cli', 'zod.js');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${fs.readFileSync(zod, 'utf8')}\n});`, { filename: zod, cachedData: fs.readFileSync(`${zod}.cache`) });
  assert.equal(script.cachedDataRejected, false);
  // ward.js reaches zod only through that file (node_modules/zod would be resolved and compiled file by file).
  const text = fs.readFileSync(bundle, 'utf8');
  assert.ok(text.includes('join(__dirname,"zod.js")'), 'ward.js loads zod.js');
  assert.ok(!/require\("zod"\)/.test(text), 'ward.js requires no zod from node_modules');
});
