#!/usr/bin/env node
// Makes the frontend bundle's V8 code cache from a real `ward run` of a stored image, so the
// cache holds the functions that command runs and not only the bundle's top level: V8 compiles
// a function the first time it is called, and a cache made before anything ran leaves every one
// of them to be compiled again by every command (about 3 ms of `ward run`).
//
// It runs in throwaway directories: a tiny ACI (a manifest and an empty rootfs), a store it is
// written into as a fetch would have left it, sealed, and a stand-in for the helper on a socket
// of its own that answers the run request as the helper would (started, then exited 0): nothing
// is launched. The cache is taken from the process that ran `ward run` of the stored image (the
// path bench:start measures), loaded exactly as bin/ward loads the bundle. Usage (by
// bundle-frontend.js):
//   node scripts/train-code-cache.js BUNDLE CACHE_OUT
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

/** The child: run the bundle as bin/ward does, and write its code cache when the command ends. */
function child(bundle, cacheOut, argv) {
  const source = `(function (exports, require, module, __filename, __dirname) { ${fs.readFileSync(bundle, 'utf8')}\n});`;
  const script = new vm.Script(source, { filename: bundle });
  process.on('exit', (code) => {
    // The run of a stored image must not load the schema library (~40 ms on every ward run):
    // a cache is then not written, bundle-frontend says why, and test/unit/code-cache fails.
    // zod sets this global when it loads, from node_modules or from its bundle (zod.js) alike.
    if (code === 0 && cacheOut && globalThis.__zod_globalRegistry !== undefined) {
      process.stderr.write('ward run of a stored image loaded zod: keep schemas off its path (lazy imports)\n');
      process.exitCode = 1;
      return;
    }
    if (code === 0 && cacheOut) fs.writeFileSync(cacheOut, script.createCachedData());
  });
  process.argv = [process.argv[0], path.join(__dirname, '..', 'bin', 'ward'), ...argv];
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, bundle, path.dirname(bundle));
}

/** Frames as the helper writes them: a u32 big-endian length, then JSON. */
function frame(obj) {
  const body = Buffer.from(JSON.stringify(obj));
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32BE(body.length);
  return Buffer.concat([hdr, body]);
}

/** Answers a run request the way ward-helper does, without launching anything. */
function standInHelper(socketPath) {
  const server = net.createServer((conn) => {
    let buf = Buffer.alloc(0);
    conn.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const req = JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)).toString('utf8'));
        buf = buf.subarray(4 + buf.readUInt32BE(0));
        const uuid = '00000000-0000-4000-8000-000000000000';
        if (req.verb === 'run') {
          conn.write(frame({ ok: true, event: 'started', uuid, selinux: null, measured: false }));
          conn.end(frame({ ok: true, event: 'exited', uuid, code: 0, signal: null }));
        } else conn.end(frame({ ok: false, code: 'EVERB', message: `not answered while training: ${req.verb}` }));
      }
    });
    conn.on('error', () => {});
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

function runChild(bundle, cacheOut, argv) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [__filename, '--child', bundle, cacheOut, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    c.stdout.resume();
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => resolve({ code, err }));
  });
}

async function main() {
  const [bundle, cacheOut] = process.argv.slice(2);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-code-cache-'));
  let server = null;
  try {
    const image = path.join(work, 'image');
    fs.mkdirSync(path.join(image, 'rootfs'), { recursive: true });
    const manifest = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/code-cache', labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }], app: { exec: ['/bin/true'], user: '0', group: '0' } };
    fs.writeFileSync(path.join(image, 'manifest'), JSON.stringify(manifest));
    const aci = path.join(work, 'image.aci');
    const tar = spawnSync('tar', ['-C', image, '-czf', aci, 'manifest', 'rootfs'], { encoding: 'utf8' });
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.trim()}`);
    const store = path.join(work, 'store');
    const socket = path.join(work, 'helper.sock');
    server = await standInHelper(socket);
    const globals = ['--dir', store, '--helper-socket', socket, '--user-config', path.join(work, 'config')];
    // The image as a fetch would have left it, sealed: importing renders the tree, which needs a
    // subordinate id range the user building ward may not have, and the run being trained
    // starts after all that anyway (a stored, sealed image).
    const { Store } = require(path.join(path.dirname(path.resolve(bundle)), '..', 'image', 'store.js'));
    const s = new Store(store);
    s.init();
    const bytes = fs.readFileSync(aci);
    const id = `sha512-${crypto.createHash('sha512').update(bytes).digest('hex')}`;
    fs.mkdirSync(path.dirname(s.blobs.path(id)), { recursive: true });
    fs.writeFileSync(s.blobs.path(id), bytes);
    const now = new Date().toISOString();
    s.put({ id, name: manifest.name, kind: 'aci', transport: 'file', source: aci, manifest, layers: [{ digest: id, size: bytes.length, mediaType: 'application/vnd.appc.aci' }], signer: 'unverified', importedAt: now, lastUsed: now, sealed: `sha256:${'0'.repeat(64)}` });
    s.rememberId(s.statKey(aci), id);
    const run = await runChild(bundle, cacheOut, [...globals, 'run', '--insecure-options=image', aci]);
    if (run.code !== 0) throw new Error(`run: ${run.err.trim()}`);
  } finally {
    server?.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') child(path.resolve(process.argv[3]), process.argv[4], process.argv.slice(5));
else
  main().catch((e) => {
    console.error(`train-code-cache: ${e.message}`);
    process.exit(1);
  });
