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

async function main() {
  await esbuild.build({
    entryPoints: [path.join(root, 'dist', 'src', 'cli', 'main.js')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['ffi-rs', 'openpgp', 'zod', 'yaml', 'tar-stream', 'cli-progress'],
    // Whitespace and syntax only: function and variable names stay as written, for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    plugins: [lazyChildProcess],
  });
  // Compiled exactly as bin/ward compiles it, so V8 accepts the cache; a node that rejects it
  // (another version or flags) compiles from source instead.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${fs.readFileSync(outfile, 'utf8')}\n});`, { filename: outfile });
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

main().catch((e) => {
  console.error(`bundle-frontend: ${e.message}`);
  process.exit(1);
});
