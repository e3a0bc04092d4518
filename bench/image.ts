// Image benchmark: `ward fetch` of a ~200 MB, 20k-file image from a local registry (the same
// content once with gzip layers, once with zstd layers) against `skopeo copy` + `umoci unpack`
// and against plain `tar -xzf` / `zstd -dc | tar -x` of the same content as one tarball, with a
// few reference rows (tar -xf, decompression alone, sha256 of the blobs); and the gzip image
// fetched under a signature policy that requires a GPG simple signature or a cosign signature,
// beside the unsigned fetch (the cost of verification). Contenders run
// interleaved, in a shuffled order each round. Prints a markdown table and the three targets of
// the image work (issue 3 §7). Run as root: npm run bench:image -- [--rounds N]
//
// Everything happens in one temp dir that is removed at the end: the image is generated there
// (deterministically: seeded content, fixed names, modes and mtimes, so its digests are the same
// on every run), pushed to Debian's docker-registry on a loopback port, and every contender runs
// as the unprivileged test user ward-test-a (through setpriv), writing into a fresh dir.
//
// Measured for each run: wall time from spawn to exit, GNU time's %M, and the VmHWM of every
// process of the run's tree, sampled from /proc every 20 ms. %M comes from wait4's rusage, which
// on Linux is the largest maximum RSS of the waited-for process *and of every descendant it
// reaped*: the largest single process of the tree, not a sum. The samples tell which process
// that was (ward's frontend, its extractor, the zstd filter; skopeo or umoci), how much CPU each
// used (and, for node, its main thread), and when ward's extractor started: the frontend's
// start-up before it, the layers' download and rendering (which overlap) after it.
//
// The page cache is not dropped (this is a shared machine): an untimed warm-up round runs every
// contender once first, so every round reads the registry's blobs and the tarballs from memory.
// After each run its output is removed and `sync` writes back what it left dirty, untimed, so
// no run pays for the previous one's writeback; each run waits (up to a minute) for the CPUs to
// be quiet before it starts, and the CPU time others used meanwhile is reported.
//
// What the contenders write goes to a fresh ext4 with a journal, made on a sparse file through a
// loop device (--host-fs writes to the temp dir instead). The reason: the root file system of
// this machine class is ext4 *without* a journal, where ext4 refuses to reuse an inode deleted in
// the last 60 s (360 s while its table block is dirty) and scans past every such inode on each
// allocation (ialloc.c, recently_deleted()). With the tests of other sessions and our own runs
// deleting tens of thousands of files, creating a file there costs ~0.9 ms instead of ~45 µs,
// and every contender would measure the deletion history of the machine instead of itself.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { OciLayout, sha256 } from '../test/lib/registry-images';
import { inspectRaw, push, startRegistry, type Registry } from '../test/lib/registry';
import { cosignKey, cosignPayload, cosignSign, pushCosignSignatures } from '../test/lib/cosign';
import { GpgHome } from '../test/lib/gpg-oci';
import { quantile, stats } from './stats';

const REPO = path.resolve(__dirname, '..', '..');
const WARD = path.join(REPO, 'bin', 'ward');
const USER = 'ward-test-a';
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MTIME = 1_700_000_000;
const SEED = 0x5eed_0003;
const SAMPLE_MS = 20;
const STEP_TIMEOUT_MS = 15 * 60_000;

// ---------------------------------------------------------------------------------------------
// A seeded generator (sfc32): the same image on every run.

class Rng {
  private a = 0x9e3779b9;
  private b = 0x243f6a88;
  private c = 0xb7e15162;
  private d: number;

  constructor(seed: number) {
    this.d = seed | 0;
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    return this.u32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Skewed towards 0, as word and symbol frequencies are. */
  zipf(n: number): number {
    const u = this.float();
    return Math.floor(n * u * u * u);
  }

  /** n·u^1.5: the first packages (the base layer's) get more files, but not all. */
  skewed(n: number): number {
    return Math.floor(n * Math.pow(this.float(), 1.5));
  }

  logUniform(lo: number, hi: number): number {
    return Math.round(lo * Math.pow(hi / lo, this.float()));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

// ---------------------------------------------------------------------------------------------
// File contents that compress like real ones: source/config-like text (gzip ~3-4×), binary-like
// data with structure (code-like byte patterns, zero runs, small integers, embedded symbol
// names: ~2×), and already-compressed data (random bytes: 1×).

type Kind = 'text' | 'binary' | 'random';

const vocabRng = new Rng(SEED ^ 0x7777);
const SYLLABLES = (() => {
  const c = 'bcdfghklmnprstvwxz';
  const v = 'aeiou';
  const out: string[] = [];
  for (const x of c) for (const y of v) out.push(x + y);
  return out;
})();
const VOCAB: Buffer[] = (() => {
  const words = new Set<string>();
  while (words.size < 4000) {
    let w = '';
    const n = 1 + vocabRng.int(4);
    for (let i = 0; i < n; i++) w += vocabRng.pick(SYLLABLES);
    if (vocabRng.int(4) === 0) w += vocabRng.pick(['_t', 's', 'ed', 'er', '_id', 'Count', 'Size', 'Map', '2', 'ing']);
    words.add(w);
  }
  return [...words].map((w) => Buffer.from(w, 'latin1'));
})();
const SEPS = [' ', ' ', ' ', ' ', '(', ', ', ' = ', '.', '_', ': ', ') {', '->', ' + ', '"', '[', '];', ' == ', ' && '].map((s) => Buffer.from(s, 'latin1'));
const ENDS = [';', '', '', ' {', '}', ')', ':', ','].map((s) => Buffer.from(s, 'latin1'));
const OPCODES: Buffer[] = (() => {
  const out: Buffer[] = [];
  for (let i = 0; i < 256; i++) {
    const b = Buffer.alloc(2 + vocabRng.int(6));
    for (let j = 0; j < b.length; j++) b[j] = vocabRng.int(4) === 0 ? 0 : vocabRng.int(256);
    out.push(b);
  }
  return out;
})();

function put(buf: Buffer, at: number, src: Buffer): number {
  const n = Math.min(src.length, buf.length - at);
  src.copy(buf, at, 0, n);
  return at + n;
}

function fillText(rng: Rng, buf: Buffer): void {
  // A file uses a few dozen words of its own most of the time, and repeats some of its lines
  // (with changes at the end), as source and configuration files do.
  const local = Array.from({ length: 48 }, () => VOCAB[rng.zipf(VOCAB.length)]!);
  const lines: [number, number][] = [];
  let i = 0;
  while (i < buf.length) {
    const start = i;
    if (lines.length > 4 && rng.int(5) === 0) {
      const [from, to] = lines[lines.length - 1 - rng.int(Math.min(lines.length, 12))]!;
      const keep = from + Math.floor((to - from) * (0.5 + rng.float() / 2));
      i = put(buf, i, buf.subarray(from, keep));
    } else {
      const indent = [0, 0, 2, 4, 4, 8, 8, 12][rng.int(8)]!;
      for (let k = 0; k < indent && i < buf.length; k++) buf[i++] = 0x20;
    }
    const n = 1 + rng.int(8);
    for (let k = 0; k < n && i < buf.length; k++) {
      const r = rng.int(16);
      if (r === 0) i = put(buf, i, Buffer.from(String(rng.int(1000)), 'latin1'));
      else i = put(buf, i, r < 12 ? local[rng.zipf(local.length)]! : VOCAB[rng.zipf(VOCAB.length)]!);
      i = put(buf, i, SEPS[rng.zipf(SEPS.length)]!);
    }
    i = put(buf, i, ENDS[rng.int(ENDS.length)]!);
    if (i < buf.length) buf[i++] = 0x0a;
    lines.push([start, i]);
  }
}

function fillRandom(rng: Rng, buf: Buffer, from = 0, to = buf.length): void {
  let r = 0;
  for (let i = from; i < to; i++) {
    if (((i - from) & 3) === 0) r = rng.u32();
    buf[i] = r & 0xff;
    r >>>= 8;
  }
}

function fillBinary(rng: Rng, buf: Buffer): void {
  let i = 0;
  while (i < buf.length) {
    const k = rng.int(100);
    const end = Math.min(buf.length, i + (k < 15 ? 16 + rng.int(240) : 32 + rng.int(480)));
    if (k < 15) fillRandom(rng, buf, i, end);
    else if (k < 40) buf.fill(0, i, end);
    else if (k < 75) {
      let j = i;
      while (j < end) j = put(buf.subarray(0, end), j, OPCODES[rng.zipf(OPCODES.length)]!);
    } else if (k < 90) {
      for (let j = i; j < end; j += 4) {
        const v = rng.zipf(4096);
        buf[j] = v & 0xff;
        if (j + 1 < end) buf[j + 1] = v >>> 8;
        if (j + 2 < end) buf[j + 2] = 0;
        if (j + 3 < end) buf[j + 3] = 0;
      }
    } else {
      let j = i;
      while (j < end) {
        j = put(buf.subarray(0, end), j, VOCAB[rng.zipf(VOCAB.length)]!);
        if (j < end) buf[j++] = 0;
      }
    }
    i = end;
  }
}

function content(kind: Kind, size: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const buf = Buffer.alloc(size);
  if (kind === 'text') fillText(rng, buf);
  else if (kind === 'binary') fillBinary(rng, buf);
  else fillRandom(rng, buf);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// The image plan: ~20k files in ~2k directories across 480 "packages", sizes from 0 to 32 KiB
// (log-uniform) plus 50 files of 1-3 MiB, busybox-static with its applet links and a small /etc,
// split into 5 layers (the first, the base, the biggest), as images usually are.

interface PlanFile {
  path: string;
  kind: Kind;
  size: number;
  mode: number;
  seed: number;
}

const TEXT_EXT = ['py', 'h', 'c', 'js', 'conf', 'txt', 'md', 'json', 'pl', 'rb', 'html', 'xml'];
const BIN_EXT = ['so', 'bin', 'dat', 'o', 'mo', 'pyc'];
const RAND_EXT = ['gz', 'png', 'jpg', 'zip', 'woff2'];
const ROOTS = ['usr/lib', 'usr/share', 'usr/lib/python3/dist-packages', 'usr/share/doc', 'usr/include', 'opt/app/lib', 'usr/lib/x86_64-linux-gnu', 'var/lib'];
const LAYER_OF_PACKAGE = [170, 300, 390, 450, 480]; // exclusive upper bounds of package indexes, per layer
const BUSYBOX_LINKS = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'uname', 'cp', 'mv', 'rm', 'mkdir', 'sleep', 'env', 'id', 'ps', 'grep', 'sed', 'awk', 'find', 'tar'];

interface Plan {
  layers: { files: PlanFile[]; symlinks: { path: string; target: string }[] }[];
  files: number;
  bytes: number;
}

function makePlan(): Plan {
  const rng = new Rng(SEED);
  const word = () => VOCAB[rng.int(VOCAB.length)]!.toString('latin1');
  const packages: { layer: number; dirs: string[] }[] = [];
  for (let p = 0; p < 480; p++) {
    const base = `${rng.pick(ROOTS)}/${word()}-${p}`;
    const dirs = [base];
    const subs = rng.int(6);
    for (let s = 0; s < subs; s++) dirs.push(`${rng.pick(dirs)}/${word()}`);
    packages.push({ layer: LAYER_OF_PACKAGE.findIndex((hi) => p < hi), dirs });
  }
  const layers: Plan['layers'] = LAYER_OF_PACKAGE.map(() => ({ files: [], symlinks: [] }));
  const used = new Set<string>();
  let seed = 1;
  const addFile = (size: number, kind: Kind) => {
    const pkg = packages[rng.skewed(packages.length)]!;
    const dir = rng.pick(pkg.dirs);
    const ext = rng.pick(kind === 'text' ? TEXT_EXT : kind === 'binary' ? BIN_EXT : RAND_EXT);
    let p: string;
    do p = `${dir}/${word()}${rng.int(4) === 0 ? `_${rng.int(100)}` : ''}.${ext}`;
    while (used.has(p));
    used.add(p);
    const mode = kind === 'binary' && (ext === 'so' || ext === 'bin') ? 0o755 : 0o644;
    layers[pkg.layer]!.files.push({ path: p, kind, size, mode, seed: seed++ });
  };
  const kindOf = (): Kind => {
    const k = rng.int(100);
    return k < 60 ? 'text' : k < 90 ? 'binary' : 'random';
  };
  for (let i = 0; i < 19_939; i++) addFile(rng.int(100) === 0 ? 0 : rng.logUniform(64, 32 * 1024), kindOf());
  for (let i = 0; i < 50; i++) addFile(rng.logUniform(1 << 20, 3 << 20), i % 10 === 0 ? 'random' : i % 10 < 6 ? 'binary' : 'text');
  // The base layer: busybox-static (so this is a real image: `ward run` of it works) and /etc.
  const base = layers[0]!;
  base.files.push({ path: 'bin/busybox', kind: 'random', size: 0, mode: 0o755, seed: -1 });
  for (const l of BUSYBOX_LINKS) base.symlinks.push({ path: `bin/${l}`, target: 'busybox' });
  for (const e of ['passwd', 'group', 'hostname', 'hosts', 'os-release', 'profile', 'shells', 'services', 'protocols', 'nsswitch.conf'])
    base.files.push({ path: `etc/${e}`, kind: 'text', size: 200 + rng.int(4000), mode: 0o644, seed: seed++ });
  let files = 0;
  let bytes = 0;
  for (const l of layers) {
    l.files.sort((x, y) => (x.path < y.path ? -1 : 1));
    files += l.files.length;
    bytes += l.files.reduce((s, f) => s + f.size, 0);
  }
  return { layers, files, bytes };
}

// ---------------------------------------------------------------------------------------------
// ustar, written by hand: fixed owners (0:0), mtimes and order.

function octal(h: Buffer, off: number, len: number, v: number): void {
  h.write(v.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function tarHeader(name: string, type: '0' | '2' | '5', size: number, mode: number, link = ''): Buffer {
  const h = Buffer.alloc(512);
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`name too long for ustar: ${prefix}/${name}`);
  }
  h.write(name, 0, 100, 'latin1');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, MTIME);
  h.fill(0x20, 148, 156);
  h.write(type, 156, 1, 'latin1');
  h.write(link, 157, 100, 'latin1');
  h.write('ustar\u000000', 257, 8, 'latin1');
  h.write('root', 265, 32, 'latin1');
  h.write('root', 297, 32, 'latin1');
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  h.write(prefix, 345, 155, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

/** One layer's tar without its end-of-archive blocks (so layers can be concatenated into one tar). */
function layerBody(layer: Plan['layers'][number], busybox: Buffer): Buffer {
  const dirs = new Set<string>();
  const addParents = (p: string) => {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/') + '/');
  };
  for (const f of layer.files) addParents(f.path);
  for (const s of layer.symlinks) addParents(s.path);
  type Item = { name: string; file?: PlanFile; link?: string };
  const items: Item[] = [...[...dirs].map((d) => ({ name: d })), ...layer.files.map((f) => ({ name: f.path, file: f })), ...layer.symlinks.map((s) => ({ name: s.path, link: s.target }))];
  items.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const out: Buffer[] = [];
  for (const it of items) {
    if (it.file) {
      const body = it.file.seed === -1 ? busybox : content(it.file.kind, it.file.size, it.file.seed);
      out.push(tarHeader(it.name, '0', body.length, it.file.mode), body);
      if (body.length % 512) out.push(Buffer.alloc(512 - (body.length % 512)));
    } else if (it.link !== undefined) out.push(tarHeader(it.name, '2', 0, 0o777, it.link));
    else out.push(tarHeader(it.name, '5', 0, 0o755));
  }
  return Buffer.concat(out);
}

const EOF_BLOCKS = Buffer.alloc(1024);

// ---------------------------------------------------------------------------------------------
// Building the image: both layouts, the one-tarball equivalents, pushed to the registry.

interface Image {
  files: number;
  dirs: number;
  tarBytes: number;
  layers: { tar: number; gz: number; zst: number }[];
  gzBlobs: string[];
  zstBlobs: string[];
  singleTar: string;
  singleGz: string;
  singleZst: string;
  gzipRef: string;
  zstdRef: string;
  gzipDigests: string[];
  zstdDigests: string[];
  /** The gzip image's manifest, which the signed contenders' signatures cover. */
  gzipManifest: { digest: string; bytes: Buffer };
}

const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

function runOk(cmd: string, args: string[], opts: { input?: Buffer } = {}): Buffer {
  const r = spawnSync(cmd, args, { input: opts.input, maxBuffer: 1 << 30, stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr?.toString().slice(-2000) ?? r.error?.message}`);
  return r.stdout;
}

function zstdFile(src: string, dst: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('zstd', ['-3', '-q', '-f', '-o', dst, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd ${src}: ${code} ${err}`))));
  });
}

const gzip = (b: Buffer) => new Promise<Buffer>((res, rej) => zlib.gzip(b, { level: 6 }, (e, out) => (e ? rej(e) : res(out))));

async function buildImage(work: string, registry: Registry): Promise<Image> {
  const build = path.join(work, 'build');
  fs.mkdirSync(build, { mode: 0o755 });
  const plan = makePlan();
  const busybox = fs.readFileSync('/bin/busybox');
  const bodies = plan.layers.map((l) => layerBody(l, busybox));
  const tars = bodies.map((b) => Buffer.concat([b, EOF_BLOCKS]));
  tars.forEach((t, i) => fs.writeFileSync(path.join(build, `layer${i + 1}.tar`), t));
  const single = Buffer.concat([...bodies, EOF_BLOCKS]);
  const singleTar = path.join(build, 'image.tar');
  fs.writeFileSync(singleTar, single);
  const [gzs, singleGzBytes] = await Promise.all([
    Promise.all(tars.map(gzip)),
    gzip(single),
    ...tars.map((_, i) => zstdFile(path.join(build, `layer${i + 1}.tar`), path.join(build, `layer${i + 1}.tar.zst`))),
    zstdFile(singleTar, `${singleTar}.zst`),
  ]);
  const singleGz = `${singleTar}.gz`;
  fs.writeFileSync(singleGz, singleGzBytes as Buffer);
  const zsts = tars.map((_, i) => fs.readFileSync(path.join(build, `layer${i + 1}.tar.zst`)));

  const layoutDir = path.join(work, 'layout');
  const layout = new OciLayout(layoutDir);
  const diffIds = tars.map((t) => sha256(t));
  const config = layout.blob(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: new Date(MTIME * 1000).toISOString(),
      config: { Cmd: ['/bin/sh'], Env: [`PATH=${PATH_ENV}`], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const manifestFor = (blobs: Buffer[], mediaType: string) => {
    const layers = blobs.map((b) => layout.blob(b));
    const m = layout.blob(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: { mediaType: MEDIA.config, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType, digest: l.digest, size: l.size })),
      }),
    );
    return { desc: { mediaType: MEDIA.manifest, digest: m.digest, size: m.size }, digests: layers.map((l) => l.digest), bytes: m.bytes };
  };
  const g = manifestFor(gzs as Buffer[], MEDIA.gzip);
  const z = manifestFor(zsts, MEDIA.zstd);
  layout.tag('gzip', g.desc);
  layout.tag('zstd', z.desc);
  const gzipRef = `${registry.host}/bench/big:gzip`;
  const zstdRef = `${registry.host}/bench/big:zstd`;
  await push(layoutDir, 'gzip', gzipRef);
  await push(layoutDir, 'zstd', zstdRef);
  // skopeo must have pushed these very bytes (no recompression, no conversion).
  for (const [ref, want] of [[gzipRef, g.digests], [zstdRef, z.digests]] as const) {
    const raw = JSON.parse((await inspectRaw(ref)).toString()) as { layers: { digest: string }[] };
    const got = raw.layers.map((l) => l.digest);
    if (got.join() !== want.join()) throw new Error(`the registry holds other layers for ${ref} than the layout: ${got.join()} vs ${want.join()}`);
  }
  const blobPath = (d: string) => path.join(layoutDir, 'blobs', 'sha256', d.slice(7));
  const dirs = new Set<string>();
  for (const l of plan.layers) for (const f of [...l.files.map((x) => x.path), ...l.symlinks.map((s) => s.path)]) {
    const parts = f.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  fs.chmodSync(layoutDir, 0o755);
  return {
    files: plan.files,
    dirs: dirs.size,
    tarBytes: single.length,
    layers: tars.map((t, i) => ({ tar: t.length, gz: (gzs as Buffer[])[i]!.length, zst: zsts[i]!.length })),
    gzBlobs: g.digests.map(blobPath),
    zstBlobs: z.digests.map(blobPath),
    singleTar,
    singleGz,
    singleZst: `${singleTar}.zst`,
    gzipRef,
    zstdRef,
    gzipDigests: g.digests,
    zstdDigests: z.digests,
    gzipManifest: { digest: g.desc.digest, bytes: g.bytes },
  };
}

/**
 * Trust configuration for the signed contenders: one dir pair (system, local) per kind, each with
 * a policy.json that requires the signature and a registries.d that says where to find it. The
 * simple signature is made by real GnuPG (skopeo standalone-sign, ed25519) into a lookaside
 * directory; the cosign one with an ECDSA P-256 key, pushed at tag sha256-<hex>.sig.
 */
async function setUpSigned(work: string, img: Image, registry: Registry): Promise<{ simple: string; cosign: string }> {
  const trust = path.join(work, 'trust');
  fs.mkdirSync(trust, { mode: 0o755 });
  const gpg = new GpgHome(path.join(trust, 'gnupg'));
  try {
    const key = await gpg.key('ward bench <bench@example.test>', 'ed25519');
    const lookaside = path.join(trust, 'lookaside');
    const sigDir = path.join(lookaside, `bench/big@${img.gzipManifest.digest.replace(':', '=')}`);
    fs.mkdirSync(sigDir, { recursive: true });
    fs.writeFileSync(path.join(sigDir, 'signature-1'), await gpg.standaloneSign(img.gzipManifest.bytes, img.gzipRef, key.fpr));
    const ck = cosignKey();
    const payload = cosignPayload(img.gzipManifest.digest, img.gzipRef.replace(/:[^:/]+$/, ''));
    await pushCosignSignatures(registry.host, 'bench/big', img.gzipManifest.digest, [{ payload, signature: cosignSign(ck, payload) }]);
    const pub = path.join(trust, 'cosign.pub');
    fs.writeFileSync(pub, ck.publicPem);
    const dirs = (name: string, requirement: unknown) => {
      const base = path.join(trust, name);
      fs.mkdirSync(path.join(base, 'system'), { recursive: true });
      fs.mkdirSync(path.join(base, 'local', 'registries.d'), { recursive: true });
      fs.writeFileSync(path.join(base, 'local', 'policy.json'), JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [registry.host]: [requirement] } } }));
      fs.writeFileSync(path.join(base, 'local', 'registries.d', 'bench.yaml'), `docker:\n  ${registry.host}:\n    lookaside: file://${lookaside}\n    use-sigstore-attachments: true\n`);
      return base;
    };
    const out = {
      simple: dirs('simple', { type: 'signedBy', keyType: 'GPGKeys', keyPath: key.keyring }),
      cosign: dirs('cosign', { type: 'sigstoreSigned', keyPath: pub, signedIdentity: { type: 'matchRepository' } }),
    };
    runOk('chmod', ['-R', 'a+rX', lookaside, pub, out.simple, out.cosign, path.dirname(key.keyring)]);
    return out;
  } finally {
    await gpg.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Running one command: as ward-test-a, under GNU time, with its process tree sampled.

interface Sample {
  ms: number;
  /** GNU time's %M (KiB): the largest max RSS of the process and of every descendant it reaped. */
  maxRssKb: number;
  /** Largest VmHWM seen (KiB), by role (frontend, extractor, zstd, skopeo, umoci, tar, ...). */
  hwm: Map<string, number>;
  /** ms from spawn when ward's extractor was first and last seen. */
  extractor: { first: number; last: number } | null;
  treeAt: number | null;
  /** CPU seconds the run's tree used (user + system, GNU time's %U + %S). */
  cpu: number;
  /** CPU seconds by role, from the samples. */
  roleCpu: Map<string, number>;
  /** CPU seconds the rest of the machine used meanwhile (busy time minus ours, kernel threads included). */
  foreignCpu: number;
}

function roleOf(cmdline: string[]): string | null {
  if (cmdline.length === 0) return null;
  if (cmdline.some((a) => a.endsWith('extract-child.js'))) return 'extractor';
  if (cmdline.some((a) => a === WARD)) return 'frontend';
  const base = path.basename(cmdline[0]!);
  if (base === 'time') return null;
  return base;
}

function readProc(pid: number, file: string): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return null;
  }
}

/** Tracks the descendants of root (found by their parent pid among new /proc entries) and their VmHWM. */
class TreeSampler {
  private readonly before = new Set<number>();
  private readonly tracked = new Set<number>();
  private readonly t0: number;
  readonly hwm = new Map<string, number>();
  /** CPU seconds (user + system) of each process, by pid, as last seen; and its role. */
  private readonly cpuByPid = new Map<number, { role: string; cpu: number; main: number }>();
  extractor: { first: number; last: number } | null = null;
  /** When the tree's root first showed in the store's staging dirs (ward: the extractor has its job). */
  treeAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** stagingParent: the store's tmp/ of a ward run, watched for a staging dir's rootfs/. */
  constructor(private readonly stagingParent: string | null = null) {
    for (const p of this.pids()) this.before.add(p);
    this.t0 = performance.now();
  }

  private pids(): number[] {
    const out: number[] = [];
    for (const n of fs.readdirSync('/proc')) {
      const c = n.charCodeAt(0);
      if (c >= 48 && c <= 57) out.push(Number(n));
    }
    return out;
  }

  start(root: number): void {
    this.tracked.add(root);
    this.before.delete(root);
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.sample();
  }

  sample(): void {
    const fresh = this.pids().filter((p) => !this.before.has(p) && !this.tracked.has(p)).sort((a, b) => a - b);
    for (const p of fresh) {
      const stat = readProc(p, 'stat');
      if (stat === null) continue;
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (this.tracked.has(ppid)) this.tracked.add(p);
      else this.before.add(p); // not ours; pids are not reused within a run of a few seconds
    }
    const now = performance.now() - this.t0;
    if (this.stagingParent !== null && this.treeAt === null) {
      try {
        if (fs.readdirSync(this.stagingParent).some((d) => fs.existsSync(path.join(this.stagingParent!, d, 'rootfs')))) this.treeAt = now;
      } catch {
        /* not made yet */
      }
    }
    for (const p of this.tracked) {
      const cmd = readProc(p, 'cmdline');
      const status = readProc(p, 'status');
      if (cmd === null || status === null) {
        this.tracked.delete(p);
        continue;
      }
      const role = roleOf(cmd.split('\0').filter((x) => x !== ''));
      if (role === null) continue;
      const stat = readProc(p, 'stat');
      const mainStat = role === 'frontend' || role === 'extractor' ? readProc(p, `task/${p}/stat`) : null;
      if (stat !== null) {
        const ticks = (st: string) => {
          const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
          return (Number(f[11]) + Number(f[12])) / 100;
        };
        this.cpuByPid.set(p, { role, cpu: ticks(stat), main: mainStat ? ticks(mainStat) : NaN });
      }
      const m = /VmHWM:\s+(\d+) kB/.exec(status);
      if (!m) continue; // a zombie
      this.hwm.set(role, Math.max(this.hwm.get(role) ?? 0, Number(m[1])));
      if (role === 'extractor') this.extractor = { first: this.extractor?.first ?? now, last: now };
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** CPU seconds by role (a lower bound: as of each process's last sample). */
  cpuByRole(): Map<string, number> {
    const out = new Map<string, number>();
    for (const { role, cpu, main } of this.cpuByPid.values()) {
      out.set(role, (out.get(role) ?? 0) + cpu);
      if (!Number.isNaN(main)) out.set(`${role} main thread`, (out.get(`${role} main thread`) ?? 0) + main);
    }
    return out;
  }
}

/** CPU seconds the whole machine has spent busy (every state but idle and iowait), from /proc/stat. */
function busyCpuSeconds(): number {
  const f = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) / 100; // USER_HZ
}

/**
 * Waits (up to a minute) until the machine is quiet: less than 15% of its CPUs busy over half a
 * second. Others share this machine; a run that starts beside a busy neighbour measures both.
 */
async function waitQuiet(): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const b0 = busyCpuSeconds();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    const busy = (busyCpuSeconds() - b0) / ((performance.now() - t0) / 1000) / os.cpus().length;
    if (busy < 0.15) return true;
    if (Date.now() > deadline) return false;
  }
}

interface Step {
  argv: string[];
  /** Run through sh -c (a pipeline), as the user. */
  shell?: boolean;
}

function asUser(argv: string[]): string[] {
  return ['setpriv', '--reuid', USER, '--regid', USER, '--init-groups', '--', ...argv];
}

async function runStep(step: Step, env: Record<string, string>, timeFile: string): Promise<Sample> {
  const argv = ['/usr/bin/time', '-f', '%e %M %U %S', '-o', timeFile, ...asUser(step.shell ? ['sh', '-c', step.argv.join(' ')] : step.argv)];
  const dirAt = step.argv.indexOf('--dir');
  const sampler = new TreeSampler(dirAt >= 0 ? path.join(step.argv[dirAt + 1]!, 'tmp') : null);
  const busy0 = busyCpuSeconds();
  const t0 = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { cwd: '/', env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  sampler.start(child.pid!);
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, STEP_TIMEOUT_MS);
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  const ms = performance.now() - t0;
  const busy = busyCpuSeconds() - busy0;
  clearTimeout(timer);
  sampler.stop();
  if (code !== 0) throw new Error(`${step.argv.join(' ')} failed (exit ${code}): ${err.trim()}`);
  const [, rss, user, sys] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ');
  const cpu = Number(user) + Number(sys);
  return { ms, maxRssKb: Number(rss), hwm: sampler.hwm, extractor: sampler.extractor, treeAt: sampler.treeAt, cpu, roleCpu: sampler.cpuByRole(), foreignCpu: Math.max(0, busy - cpu) };
}

// ---------------------------------------------------------------------------------------------
// The contenders.

interface Contender {
  name: string;
  /** A reference row: not one of the three contenders the targets are about. */
  reference?: boolean;
  steps(dir: string): Step[];
  /** Where the extracted tree is (for the warm-up round's check), or null when nothing is extracted. */
  tree(dir: string): string | null;
}

function contenders(img: Image, umociZstd: boolean, trust: { simple: string; cosign: string }): Contender[] {
  const wardFetch = (ref: string): Contender['steps'] => (dir) => [{ argv: [process.execPath, WARD, '--dir', `${dir}/store`, '--insecure-options=image,http', 'fetch', `docker://${ref}`] }];
  // Verified under a policy that requires the signature (no --insecure-options=image).
  const wardSigned = (ref: string, cfg: string): Contender['steps'] => (dir) => [
    { argv: [process.execPath, WARD, '--dir', `${dir}/store`, '--system-config', `${cfg}/system`, '--local-config', `${cfg}/local`, '--insecure-options=http', 'fetch', `docker://${ref}`] },
  ];
  const wardTree = (dir: string) => {
    const trees = path.join(dir, 'store', 'trees');
    const t = fs.readdirSync(trees).filter((n) => fs.existsSync(path.join(trees, n, 'rootfs')));
    if (t.length !== 1) throw new Error(`expected one rendered tree in ${trees}, found ${t.length}`);
    return path.join(trees, t[0]!, 'rootfs');
  };
  const skopeoUmoci = (ref: string): Contender['steps'] => (dir) => [
    { argv: ['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}/oci:big`] },
    { argv: ['umoci', 'unpack', '--rootless', '--image', `${dir}/oci:big`, `${dir}/bundle`] },
  ];
  const list: Contender[] = [
    { name: 'ward fetch (gzip layers)', steps: wardFetch(img.gzipRef), tree: wardTree },
    { name: 'ward fetch (zstd layers)', steps: wardFetch(img.zstdRef), tree: wardTree },
    { name: 'ward fetch (gzip layers, GPG simple signing)', steps: wardSigned(img.gzipRef, trust.simple), tree: wardTree },
    { name: 'ward fetch (gzip layers, cosign key)', steps: wardSigned(img.gzipRef, trust.cosign), tree: wardTree },
    { name: 'skopeo copy + umoci unpack (gzip)', steps: skopeoUmoci(img.gzipRef), tree: (d) => `${d}/bundle/rootfs` },
  ];
  if (umociZstd) list.push({ name: 'skopeo copy + umoci unpack (zstd)', steps: skopeoUmoci(img.zstdRef), tree: (d) => `${d}/bundle/rootfs` });
  list.push(
    { name: 'tar -xzf (one .tar.gz)', steps: (d) => [{ argv: ['tar', '-xzf', img.singleGz, '-C', `${d}/out`] }], tree: (d) => `${d}/out` },
    { name: 'zstd -dc | tar -x (one .tar.zst)', steps: (d) => [{ argv: ['zstd', '-dc', '-q', img.singleZst, '|', 'tar', '-x', '-C', `${d}/out`], shell: true }], tree: (d) => `${d}/out` },
    { name: 'tar -xf (one uncompressed .tar)', reference: true, steps: (d) => [{ argv: ['tar', '-xf', img.singleTar, '-C', `${d}/out`] }], tree: (d) => `${d}/out` },
    { name: 'gzip -dc > /dev/null (one .tar.gz)', reference: true, steps: () => [{ argv: ['gzip', '-dc', img.singleGz, '>', '/dev/null'], shell: true }], tree: () => null },
    { name: 'zstd -dc > /dev/null (one .tar.zst)', reference: true, steps: () => [{ argv: ['zstd', '-dc', '-q', img.singleZst, '>', '/dev/null'], shell: true }], tree: () => null },
    { name: 'openssl sha256 of the gzip blobs', reference: true, steps: () => [{ argv: ['openssl', 'dgst', '-sha256', ...img.gzBlobs] }], tree: () => null },
    { name: 'sha256sum of the gzip blobs', reference: true, steps: () => [{ argv: ['sha256sum', ...img.gzBlobs] }], tree: () => null },
  );
  return list;
}

interface Result {
  ms: number[];
  maxRssKb: number[];
  hwm: Map<string, number>;
  /** Per round for ward: [download ms, render ms] from the extractor's lifetime. */
  phases: [number, number][];
  /** Per round for skopeo+umoci: ms of each step. */
  stepMs: number[][];
  /** Per round: CPU seconds of the run's tree, and of everything else meanwhile. */
  cpu: number[];
  foreignCpu: number[];
  /** Per round: CPU seconds by role (frontend, extractor, ...). */
  roleCpu: Map<string, number>[];
  /** Rounds that started before the machine was quiet (waitQuiet gave up). */
  busyStarts: number;
}

interface Run {
  ms: number;
  maxRssKb: number;
  hwm: Map<string, number>;
  phase: [number, number] | null;
  stepMs: number[];
  cpu: number;
  roleCpu: Map<string, number>;
  foreignCpu: number;
  dir: string;
}

async function runContender(c: Contender, runs: string, round: number, env: Record<string, string>, uid: number, gid: number): Promise<Run> {
  const dir = path.join(runs, `${c.name.replace(/[^a-z0-9]+/gi, '-')}-r${round}`);
  fs.mkdirSync(path.join(dir, 'out'), { recursive: true });
  for (const d of [dir, path.join(dir, 'out')]) fs.chownSync(d, uid, gid);
  let ms = 0;
  let maxRssKb = 0;
  const hwm = new Map<string, number>();
  let phase: [number, number] | null = null;
  const stepMs: number[] = [];
  let cpu = 0;
  let foreignCpu = 0;
  const roleCpu = new Map<string, number>();
  for (const step of c.steps(dir)) {
    const s = await runStep(step, env, path.join(runs, 'time.out'));
    ms += s.ms;
    cpu += s.cpu;
    foreignCpu += s.foreignCpu;
    for (const [k, v] of s.roleCpu) roleCpu.set(k, (roleCpu.get(k) ?? 0) + v);
    stepMs.push(s.ms);
    maxRssKb = Math.max(maxRssKb, s.maxRssKb);
    for (const [k, v] of s.hwm) hwm.set(k, Math.max(hwm.get(k) ?? 0, v));
    if (s.treeAt !== null) phase = [s.treeAt, s.ms - s.treeAt];
  }
  return { ms, maxRssKb, hwm, phase, stepMs, cpu, roleCpu, foreignCpu, dir };
}

function countTree(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += fs.lstatSync(p).size;
      }
    }
  };
  walk(root);
  return { files, bytes };
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report.

const md = (s: string) => s.replace(/\|/g, '\\|');
const sec = (ms: number) => (ms / 1000).toFixed(2);
const mb = (kb: number) => ((kb * 1024) / 1e6).toFixed(0);
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

function version(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const line = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l !== '');
  return r.status === 0 && line ? line : 'not installed';
}

const USAGE = 'usage: node dist/bench/image.js [--rounds N] [--only SUBSTR,...] [--no-warmup] [--host-fs] [--keep]   (as root; N defaults to 5)';

function parseArgs(argv: string[]): { rounds: number; keep: boolean; only: string[] | null; warmup: boolean; hostFs: boolean } {
  let rounds = 5;
  let keep = false;
  let hostFs = false;
  let warmup = true;
  let only: string[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (flag: string) => (a.startsWith(`${flag}=`) ? a.slice(flag.length + 1) : a === flag ? argv[++i] : undefined);
    let v: string | undefined;
    if ((v = val('--rounds')) !== undefined) {
      rounds = Number(v);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds takes a positive integer, not '${v}'`);
    } else if ((v = val('--only')) !== undefined) only = v.split(',').map((s) => s.trim().toLowerCase());
    else if (a === '--keep') keep = true;
    else if (a === '--no-warmup') warmup = false;
    else if (a === '--host-fs') hostFs = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument '${a}'; ${USAGE}`);
  }
  return { rounds, keep, only, warmup, hostFs };
}

function userIds(name: string): { uid: number; gid: number } {
  const pw = fs.readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
  if (!pw) throw new Error(`user ${name} does not exist; run scripts/setup.sh as root`);
  return { uid: Number(pw[2]), gid: Number(pw[3]) };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench:image runs as root (it runs the contenders as the test user ward-test-a); use sudo npm run bench:image');
  for (const tool of ['skopeo', 'umoci', 'docker-registry', 'zstd', 'gzip', 'tar', 'openssl', 'sha256sum', 'setpriv']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing; run scripts/setup.sh`);
  }
  if (!fs.existsSync('/usr/bin/time')) throw new Error('GNU time (/usr/bin/time) is missing; run scripts/setup.sh');
  const { uid, gid } = userIds(USER);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-bench-image-'));
  fs.chmodSync(work, 0o755);
  let registry: Registry | null = null;
  let mounted: string | null = null;
  const cleanup = async () => {
    await registry?.stop();
    registry = null;
    if (mounted) {
      // The loop device is set up with autoclear: unmounting detaches it.
      for (let i = 0; i < 20 && spawnSync('umount', [mounted]).status !== 0; i++) await new Promise((r) => setTimeout(r, 250));
      mounted = null;
    }
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
    else process.stderr.write(`kept ${work}\n`);
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const log = (s: string) => process.stderr.write(`${s}\n`);
    registry = await startRegistry(path.join(work, 'registry'), { kind: 'none' });
    let t = performance.now();
    log(`bench:image: building the image in ${work} ...`);
    const img = await buildImage(work, registry);
    const gzTotal = img.layers.reduce((s, l) => s + l.gz, 0);
    const zstTotal = img.layers.reduce((s, l) => s + l.zst, 0);
    log(`bench:image: built and pushed in ${sec(performance.now() - t)} s: ${img.files} files, ${img.dirs} dirs, ${mib(img.tarBytes)} MiB of tar; ` +
      `layers (tar/gzip/zstd MiB): ${img.layers.map((l) => `${mib(l.tar)}/${mib(l.gz)}/${mib(l.zst)}`).join(', ')}`);

    // What the contenders write goes to a fresh, journaled ext4 (a sparse file on a loop device)
    // unless --host-fs: see the top of this file.
    let scratch = work;
    if (!opts.hostFs) {
      scratch = path.join(work, 'fs');
      const img = path.join(work, 'fs.img');
      fs.mkdirSync(scratch);
      fs.closeSync(fs.openSync(img, 'w'));
      fs.truncateSync(img, 8 * 1024 ** 3);
      runOk('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=0,lazy_journal_init=0', img]);
      try {
        runOk('mount', ['-o', 'loop', img, scratch]);
      } catch (e) {
        throw new Error(`cannot mount a scratch ext4 on a loop device (${(e as Error).message.trim()}); run with --host-fs to write to ${os.tmpdir()} instead`);
      }
      mounted = scratch;
      fs.chmodSync(scratch, 0o755);
    }
    const home = path.join(scratch, 'home');
    const runs = path.join(scratch, 'runs');
    for (const d of [home, runs]) {
      fs.mkdirSync(d, { mode: 0o755 });
      fs.chownSync(d, uid, gid);
    }
    const env = { PATH: PATH_ENV, HOME: home, LANG: 'C.UTF-8' };

    // Can this umoci unpack zstd layers? (umoci 0.4.7 cannot; newer ones can.)
    const probeDir = path.join(runs, 'probe');
    fs.mkdirSync(probeDir);
    fs.chownSync(probeDir, uid, gid);
    let umociZstd = true;
    try {
      await runStep({ argv: ['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${img.zstdRef}`, `oci:${probeDir}/oci:big`] }, env, path.join(runs, 'time.out'));
      await runStep({ argv: ['umoci', 'unpack', '--rootless', '--image', `${probeDir}/oci:big`, `${probeDir}/bundle`] }, env, path.join(runs, 'time.out'));
    } catch (e) {
      umociZstd = false;
      log(`bench:image: umoci cannot unpack zstd layers here (${(e as Error).message.split('\n')[0]!.slice(0, 200)}); its zstd row is left out`);
    }
    fs.rmSync(probeDir, { recursive: true, force: true });

    const trust = await setUpSigned(work, img, registry);
    let all = contenders(img, umociZstd, trust);
    if (opts.only) all = all.filter((c) => opts.only!.some((o) => c.name.toLowerCase().includes(o)));
    const results = new Map<string, Result>(all.map((c) => [c.name, { ms: [], maxRssKb: [], hwm: new Map(), phases: [], stepMs: [], cpu: [], foreignCpu: [], roleCpu: [], busyStarts: 0 }]));
    const rng = new Rng(SEED ^ Date.now());
    const shuffled = () => {
      const xs = [...all];
      for (let i = xs.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [xs[i], xs[j]] = [xs[j]!, xs[i]!];
      }
      return xs;
    };
    const expectFiles = img.files;
    const settle = (dir: string) => {
      fs.rmSync(dir, { recursive: true, force: true });
      spawnSync('sync');
    };
    if (opts.warmup) {
      log('bench:image: warm-up round (untimed), checking what every contender extracts ...');
      for (const c of all) {
        const r = await runContender(c, runs, 0, env, uid, gid);
        const tree = c.tree(r.dir);
        if (tree) {
          const n = countTree(tree);
          if (n.files !== expectFiles) throw new Error(`${c.name} extracted ${n.files} files, the image has ${expectFiles}`);
          log(`  ${c.name}: ${sec(r.ms)} s, ${n.files} files, ${mib(n.bytes)} MiB`);
        } else log(`  ${c.name}: ${sec(r.ms)} s`);
        settle(r.dir);
      }
    }
    for (let round = 1; round <= opts.rounds; round++) {
      t = performance.now();
      for (const c of shuffled()) {
        const quiet = await waitQuiet();
        const r = await runContender(c, runs, round, env, uid, gid);
        const res = results.get(c.name)!;
        if (!quiet) res.busyStarts++;
        res.cpu.push(r.cpu);
        res.foreignCpu.push(r.foreignCpu);
        res.roleCpu.push(r.roleCpu);
        res.ms.push(r.ms);
        res.maxRssKb.push(r.maxRssKb);
        for (const [k, v] of r.hwm) res.hwm.set(k, Math.max(res.hwm.get(k) ?? 0, v));
        if (r.phase) res.phases.push(r.phase);
        res.stepMs.push(r.stepMs);
        settle(r.dir);
      }
      log(`bench:image: round ${round}/${opts.rounds} done (${sec(performance.now() - t)} s): ` +
        all.map((c) => `${c.name.split(' (')[0]} ${sec(results.get(c.name)!.ms.at(-1)!)}`).join(', '));
    }

    // The report.
    const tarGz = results.get('tar -xzf (one .tar.gz)');
    const base = tarGz ? stats(tarGz.ms).median : NaN;
    const out: string[] = [];
    out.push(`Image: ${img.files} files in ${img.dirs} directories, ${mib(img.tarBytes)} MiB as one tar; 5 layers, ${mib(gzTotal)} MiB gzip (level 6), ${mib(zstTotal)} MiB zstd (level 3). ` +
      `${opts.rounds} rounds, interleaved in shuffled order, after an untimed warm-up round; page cache warm (not dropped), \`sync\` between runs; every contender runs as ${USER} ` +
      `and writes to ${opts.hostFs ? `the host's file system (${os.tmpdir()})` : 'a fresh journaled ext4 on a loop device'}.`);
    out.push('');
    out.push('| contender | median s | p10 s | p90 s | × tar -xzf | peak RSS MB | CPU s |');
    out.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const c of all) {
      const r = results.get(c.name)!;
      const s = stats(r.ms);
      const ratio = Number.isFinite(base) ? `${(s.median / base).toFixed(2)}×` : '';
      out.push(`| ${c.reference ? `_${md(c.name)}_ (reference)` : md(c.name)} | ${sec(s.median)} | ${sec(s.p10)} | ${sec(s.p90)} | ${ratio} | ${mb(Math.max(...r.maxRssKb))} | ${stats(r.cpu).median.toFixed(2)} |`);
    }
    out.push('');
    const foreign = all.flatMap((c) => results.get(c.name)!.foreignCpu);
    const walls = all.flatMap((c) => results.get(c.name)!.ms.map((m) => m / 1000));
    const share = foreign.map((f, i) => f / walls[i]! / os.cpus().length).sort((a, b) => a - b);
    const busyStarts = all.reduce((n, c) => n + results.get(c.name)!.busyStarts, 0);
    out.push(`Peak RSS is GNU time's %M (the largest single process of the run's tree, max over rounds), in MB of 10^6 bytes; CPU s is the tree's user + system time (median). ` +
      `Other load while the runs ran (the machine's busy time minus the runs' own, kernel writeback included): median ${(quantile(share, 0.5) * 100).toFixed(0)}%, ` +
      `max ${(quantile(share, 1) * 100).toFixed(0)}% of the CPUs; ${busyStarts} of ${foreign.length} runs started before the machine was quiet.`);
    out.push('');
    out.push('By process: peak RSS is VmHWM sampled every 20 ms (max over rounds), CPU is user + system time (median over rounds, as of the last sample); ' +
      'ward\'s time splits where the tree\'s root appears in the store\'s staging dir (sampled every 20 ms): before, the frontend starts and spawns the extractor (whose start-up overlaps what follows), ' +
      'applies the signature policy and reads the manifest and config, then hands the extractor its job; after, ' +
      'the layers stream from the registry into the blob store and the extractor at once, the extractor renders and digests the tree, and the frontend records it.');
    out.push('');
    out.push('| contender | process: peak RSS MB | process: CPU s | time split (medians) |');
    out.push('|---|---|---|---|');
    const IGNORE = ['setpriv', 'unshare', 'newuidmap', 'newgidmap', 'sh'];
    for (const c of all) {
      const r = results.get(c.name)!;
      if (c.reference || c.name.startsWith('tar') || c.name.startsWith('zstd')) continue;
      const procs = [...r.hwm].filter(([k]) => !IGNORE.includes(k)).sort((a, b) => b[1] - a[1]);
      const roles = [...new Set(r.roleCpu.flatMap((m) => [...m.keys()]))].filter((k) => !IGNORE.includes(k));
      const cpus = roles.map((k) => [k, stats(r.roleCpu.map((m) => m.get(k) ?? 0)).median] as const).sort((a, b) => b[1] - a[1]);
      let split = '';
      if (r.phases.length) {
        split = `until the layers flow ${sec(stats(r.phases.map((p) => p[0])).median)} s, from then on ${sec(stats(r.phases.map((p) => p[1])).median)} s`;
      } else if (r.stepMs[0] && r.stepMs[0].length === 2) {
        split = `skopeo copy ${sec(stats(r.stepMs.map((x) => x[0]!)).median)} s, umoci unpack ${sec(stats(r.stepMs.map((x) => x[1]!)).median)} s`;
      }
      const cpuText = cpus
        .filter(([k]) => !k.endsWith(' main thread'))
        .map(([k, v]) => {
          const main = cpus.find(([m]) => m === `${k} main thread`);
          return `${k} ${v.toFixed(2)}${main ? ` (main thread ${main[1].toFixed(2)})` : ''}`;
        })
        .join(', ');
      out.push(`| ${md(c.name)} | ${procs.map(([k, v]) => `${k} ${mb(v)}`).join(', ')} | ${cpuText} | ${split} |`);
    }
    out.push('');
    out.push(`skopeo and umoci run as ${USER} too (\`umoci unpack --rootless\`), so every contender does the same unprivileged job; ` +
      (umociZstd ? 'umoci unpacks the zstd image as well.' : `this umoci (${version(['umoci', '--version'])}) cannot unpack zstd layers, so there is no skopeo + umoci row for them.`));
    out.push('');
    const wardGz = results.get('ward fetch (gzip layers)');
    const wardZst = results.get('ward fetch (zstd layers)');
    const su = results.get('skopeo copy + umoci unpack (gzip)');
    if (wardGz && tarGz) {
      const r = stats(wardGz.ms).median / base;
      out.push(`- ${r <= 1.25 ? 'PASS' : 'MISS'}: ward fetch (gzip) takes ${r.toFixed(2)}× tar -xzf (target ≤ 1.25×)`);
    }
    if (wardGz && su) {
      const f = stats(su.ms).median / stats(wardGz.ms).median;
      out.push(`- ${f >= 2 ? 'PASS' : 'MISS'}: ward fetch (gzip) is ${f.toFixed(2)}× faster than skopeo copy + umoci unpack (target ≥ 2×)`);
    }
    for (const kind of ['GPG simple signing', 'cosign key']) {
      const signed = results.get(`ward fetch (gzip layers, ${kind})`);
      if (!signed || !wardGz) continue;
      const extra = stats(signed.ms).median / stats(wardGz.ms).median - 1;
      // Verification happens before the extractor gets its job: that phase holds its whole cost.
      const before = (r: Result) => stats(r.phases.map((p) => p[0])).median;
      out.push(`- ${extra <= 0.1 ? 'PASS' : 'MISS'}: a signed fetch (${kind}) takes ${(Math.abs(extra) * 100).toFixed(1)}% ${extra >= 0 ? 'more' : 'less'} than the unsigned one, ` +
        `medians ${sec(stats(signed.ms).median)} s vs ${sec(stats(wardGz.ms).median)} s (target ≤ 10% more); until the layers flow (policy, signatures, manifest, config) ` +
        `${sec(before(signed))} s vs ${sec(before(wardGz))} s`);
    }
    if (wardGz || wardZst) {
      const peak = Math.max(...[wardGz, wardZst].flatMap((r) => (r ? r.maxRssKb : [])));
      out.push(`- ${(peak * 1024) / 1e6 <= 150 ? 'PASS' : 'MISS'}: ward's peak RSS is ${mb(peak)} MB, its largest process over every ward run (target ≤ 150 MB)`);
    }
    out.push('');
    out.push(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}; node ${process.version}; ` +
      `${version(['skopeo', '--version'])}; ${version(['umoci', '--version'])}; ${version(['tar', '--version'])}; ${version(['zstd', '--version']).replace(/\*/g, '').trim()}; ${version(['gzip', '--version'])}; ${version(['openssl', 'version'])}.`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await cleanup();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`bench:image: ${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}
