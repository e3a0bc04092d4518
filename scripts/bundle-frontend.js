#!/usr/bin/env node
// Bundles the frontend (dist/src/cli/main.js and what it requires) into dist/src/cli/ward.js,
// which bin/ward runs, and writes V8's code cache for it beside it (ward.js.cache). One file
// read instead of resolving and loading some sixty modules, and no compiling of that file from
// source, are most of what `ward run` would otherwise spend before it reaches the helper. The
// bundle sits beside main.js so every path computed from __dirname stays the same (frontend
// modules climb to dist/src first: test/unit/bundle-paths.test.ts). Native addons stay outside,
// and so do the large libraries only some commands use, loaded from node_modules when needed;
// the rest is minified but for its names: every kilobyte is read on every command.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');

// commander requires child_process (and with it net, dgram and the streams) at load, for
// subcommands run as separate executables, which ward has none of: give it on first use instead.
// The wrapper node's CommonJS loader puts around a module (require('node:module').wrap).
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n});';

const lazyChildProcess = {
  name: 'lazy-child-process-in-commander',
  setup(build) {
    build.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      const eager = "const childProcess = require('node:child_process');";
      if (!text.includes(eager)) throw new Error(`${args.path}: commander changed; update the lazy child_process plugin`);
      const lazy = "const childProcess = new Proxy({}, { get: (_, k) => require('node:child_process')[k] });";
      return { contents: text.replace(eager, lazy), loader: 'js' };
    });
  },
};
const outfile = path.join(root, 'dist', 'src', 'cli', 'ward.js');
// zod, the schema library, is bundled on its own beside ward.js (zod.js) with a code cache of
// its own (zod.js.cache, trained by building and using schemas): loaded from node_modules it
// resolves, reads and compiles some 180 files, ~40 ms on every command that parses a format
// (ward fetch, image, list ...); as one file from its cache, ~11 ms. It stays out of ward.js,
// which every command reads and which `ward run` of a stored image uses without zod.
const zodFile = path.join(root, 'dist', 'src', 'cli', 'zod.js');
const zodFromBundle = {
  name: 'zod-from-its-own-bundle',
  setup(build) {
    build.onResolve({ filter: /^zod$/ }, () => ({ path: 'zod', namespace: 'zod-bundle' }));
    // __dirname is the bundle's own dir (bin/ward passes it), where zod.js sits; compiled as
    // bin/ward compiles ward.js, so V8 takes the cache (a rejected one is simply not used).
    build.onLoad({ filter: /.*/, namespace: 'zod-bundle' }, () => ({ contents: `
      const fs = require('node:fs');
      const file = require('node:path').join(__dirname, 'zod.js');
      let cachedData;
      try { cachedData = fs.readFileSync(file + '.cache'); } catch { cachedData = undefined; }
      const script = new (require('node:vm').Script)(${JSON.stringify(WRAP_HEAD)} + fs.readFileSync(file, 'utf8') + ${JSON.stringify(WRAP_TAIL)}, { filename: file, cachedData });
      script.runInThisContext().call(module.exports, module.exports, require, module, file, __dirname);`, loader: 'js' }));
  },
};

async function main() {
  await esbuild.build({
    stdin: { contents: "module.exports = require('zod');", resolveDir: root, loader: 'js' },
    outfile: zodFile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
  });
  trainZodCache();
  await esbuild.build({
    entryPoints: [path.join(root, 'dist', 'src', 'cli', 'main.js')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['ffi-rs', 'openpgp', 'yaml', 'tar-stream', 'cli-progress'],
    // Whitespace and syntax only: function and variable names stay as written, for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    plugins: [lazyChildProcess, zodFromBundle],
  });
  // Compiled exactly as bin/ward compiles it, so V8 accepts the cache; a node that rejects it
  // (another version or flags) compiles from source instead.
  const script = new vm.Script(`${WRAP_HEAD}${fs.readFileSync(outfile, 'utf8')}${WRAP_TAIL}`, { filename: outfile });
  fs.writeFileSync(`${outfile}.cache`, script.createCachedData());
  // Better: the cache of a process that ran `ward run` (scripts/train-code-cache.js). Should that
  // fail, the cache above still serves, only with less in it: say so, do not fail the build.
  const trained = `${outfile}.cache.trained`;
  const r = spawnSync(process.execPath, [path.join(__dirname, 'train-code-cache.js'), outfile, trained], { encoding: 'utf8' });
  if (r.status === 0 && fs.existsSync(trained)) fs.renameSync(trained, `${outfile}.cache`);
  else {
    fs.rmSync(trained, { force: true });
    console.warn(`bundle-frontend: warning: the code cache was not trained (${(r.stderr || r.error?.message || '').trim()}); ward starts a few ms slower`);
  }
}

/** zod.js's code cache, taken after schemas of the kinds ward's are made and used (what they compile is in it). */
function trainZodCache() {
  const script = new vm.Script(`${WRAP_HEAD}${fs.readFileSync(zodFile, 'utf8')}${WRAP_TAIL}`, { filename: zodFile });
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, zodFile, path.dirname(zodFile));
  const { z } = mod.exports;
  const Item = z.object({ name: z.string().min(1).max(64).regex(/^[a-z]+$/), value: z.number().int().nonnegative().optional() }).strict();
  const Doc = z.object({
    kind: z.literal('doc'),
    items: z.array(Item).max(8),
    tags: z.record(z.string(), z.string()).default({}),
    mode: z.enum(['a', 'b']),
    either: z.union([z.string(), z.number()]).nullable(),
    tagged: z.discriminatedUnion('t', [z.object({ t: z.literal('x'), x: z.boolean() }), z.object({ t: z.literal('y') })]),
  }).passthrough().refine((d) => d.items.length >= 0, 'never');
  const doc = { kind: 'doc', items: [{ name: 'a', value: 1 }], mode: 'a', either: null, tagged: { t: 'x', x: true }, extra: 1 };
  for (let i = 0; i < 3; i++) {
    Doc.parse(doc);
    Doc.safeParse({ ...doc, items: [{ name: 'A' }], mode: 'c' });
  }
  fs.writeFileSync(`${zodFile}.cache`, script.createCachedData());
}

main().catch((e) => {
  console.error(`bundle-frontend: ${e.message}`);
  process.exit(1);
});
