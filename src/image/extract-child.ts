// The extractor: runs as root of the caller's own user namespace (container ids 0..65535 mapped
// to the caller's subordinate range by newuidmap), never with host privilege. Every byte it reads
// is hostile. Modes:
//   render JOB   apply the layers of JOB (JSON: layers as fds, in order) into fd 3's rootfs/,
//                answer one JSON line on stdout, then wait for "remove" or "keep" on fd 4;
//   serve        the same, but started before the caller knows the layers (so node's start-up
//                overlaps the caller's manifest work): the job comes in frames on fd 5, the
//                layers' fds with it (see receiveJob); EOF instead of a job ends it, nothing made;
//   --remove     remove fd 3's rootfs/ (only this namespace can: it belongs to the subordinate range).
// Layers are hashed as they are read and their digest and size checked before the answer is ok;
// the tree is never used (sealed) before that answer.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { applyDirModes, beginEntry, fence, LayerState, UnsafeEntryError, type EntryContext } from './apply-entry';
import { DEFAULT_LIMITS, type ExtractLimits } from './limits';
import { addon } from '../native/addon';
import { TarReader } from './tar-reader';
import { packTree } from './tree-tar';
import { treeDigest } from './tree-digest';

const TOP = '/proc/self/fd/3';
/** serve: where the job and the layers' fds come from. */
const JOB_FD = 5;
const ROOT = `${TOP}/rootfs`;

export interface RenderJob {
  /**
   * `checked`: the caller hashes the layer as it streams it in and keeps the tree only when its
   * digest matches (a download tee'd into the blob store): hashing it here as well would handle
   * every compressed byte twice. The size is checked here all the same.
   */
  layers: { fd: number; kind: 'aci' | 'oci'; digest: string; size: number | null; name: string; checked?: boolean }[];
  limits: ExtractLimits;
}

export interface RenderAnswer {
  ok: true;
  entries: number;
  bytes: number;
  /** The ACI's manifest (base64), for kind 'aci'. */
  manifest: string | null;
  /** The digest of each layer as read (sha512-… for ACIs, sha256:… otherwise). */
  digests: string[];
  /** The tree digest (format v1, as the helper computes it when sealing). */
  tree: string;
}

type Compression = 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'none';

export function detectCompression(head: Buffer): Compression | null {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'none';
  // An old-style (v7) tar has no magic: a header's checksum field is the only sign.
  if (head.length >= 512 && isTarHeader(head.subarray(0, 512))) return 'none';
  return null;
}

function isTarHeader(h: Buffer): boolean {
  const stored = parseInt(h.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === stored;
}

/**
 * The first bytes of a stream, for the magic, and the stream to read from its first byte on.
 * Works for files and pipes alike (a layer may arrive while it downloads).
 */
function head(input: Readable, n: number): Promise<{ bytes: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let len = 0;
    const finish = (ended: boolean) => {
      input.off('readable', onReadable);
      input.off('end', onEnd);
      input.off('error', reject);
      const bytes = Buffer.concat(chunks);
      if (ended) return resolve({ bytes, stream: Readable.from(bytes.length > 0 ? [bytes] : []) });
      input.unshift(bytes);
      resolve({ bytes, stream: input });
    };
    const onEnd = () => finish(true);
    const onReadable = () => {
      let c: Buffer | null;
      while (len < n && (c = input.read() as Buffer | null) !== null) {
        chunks.push(c);
        len += c.length;
      }
      if (len >= n) finish(false);
    };
    input.on('readable', onReadable);
    input.on('end', onEnd);
    input.on('error', reject);
  });
}

const BATCH = 1 << 20;

/**
 * Hands chunks on in pieces of at least 1 MiB (the last may be smaller), for what comes in
 * pieces of a pipe's size (64 KiB): a layer still downloading, a filter's output. Fewer pieces
 * are fewer round trips to zlib's thread, and fewer file bodies split over pieces (a split one
 * is written by the main thread in several calls instead of whole by the writer thread).
 */
function batcher(): Transform {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (pendingLen === 0 && chunk.length >= BATCH) return cb(null, chunk);
      pending.push(chunk);
      pendingLen += chunk.length;
      if (pendingLen < BATCH) return cb();
      const all = Buffer.concat(pending, pendingLen);
      pending = [];
      pendingLen = 0;
      cb(null, all);
    },
    flush(cb) {
      cb(null, pendingLen > 0 ? Buffer.concat(pending, pendingLen) : undefined);
    },
  });
}

const FILTERS: Record<'zstd' | 'xz' | 'bzip2', { cmd: string[]; pkg: string }> = {
  zstd: { cmd: ['zstd', '-dc', '--no-progress'], pkg: 'zstd' },
  xz: { cmd: ['xz', '-dc'], pkg: 'xz-utils' },
  bzip2: { cmd: ['bzip2', '-dc'], pkg: 'bzip2' },
};

/**
 * Runs the compressed bytes through a decompressor into `out`: zlib in process for gzip; the
 * system's zstd, xz and bzip2 as filter processes (Node 20's zlib has none of them). Two plain
 * pipelines around the filter, so either side failing kills the filter and stops the other.
 */
async function decompressInto(kind: Compression, compressed: Readable[], out: Writable[]): Promise<void> {
  if (kind === 'none') return pipeline([...compressed, ...out] as unknown as [Readable, Writable]);
  if (kind === 'gzip') return pipeline([...compressed, zlib.createGunzip({ chunkSize: 256 * 1024 }), ...out] as unknown as [Readable, Writable]);
  const { cmd, pkg } = FILTERS[kind];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-1024)));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const spawnError = new Promise<never>((_, rej) => child.on('error', (e) => rej(new UnsafeEntryError(`cannot run ${cmd[0]}: ${e.message}; install it (apt-get install ${pkg})`))));
  spawnError.catch(() => undefined);
  try {
    await Promise.race([
      Promise.all([
        pipeline([...compressed, child.stdin] as unknown as [Readable, Writable]),
        pipeline([child.stdout, batcher(), ...out] as unknown as [Readable, Writable]),
      ]),
      spawnError,
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    const code = await exited;
    // Our own refusal (a bomb, a hostile entry) is the cause; the filter then fails writing.
    if (e instanceof UnsafeEntryError) throw e;
    if (code !== 0 && code !== null && err.trim()) throw new UnsafeEntryError(`${kind} decompression failed: ${err.trim().split('\n').pop()}`);
    throw e;
  }
  const code = await exited;
  if (code !== 0) throw new UnsafeEntryError(`${kind} decompression failed: ${err.trim().split('\n').pop() || `exit ${code}`}`);
}

async function applyLayer(layer: RenderJob['layers'][number], ctx: EntryContext): Promise<string> {
  const alg = layer.digest.startsWith('sha512') ? 'sha512' : 'sha256';
  const hash = layer.checked ? null : crypto.createHash(alg);
  // A file (a blob) is read 1 MiB at a time. A layer still downloading comes through a socket:
  // read as a socket (libuv's reads, each buffer the size of what came), not with fs.read, which
  // allocates its whole highWaterMark on every read and copies what came (often 64 KiB) into a
  // buffer that fits; those buffers were most of the extractor's external memory churn, and
  // every 64 MiB of it costs a full garbage collection.
  const st = fs.fstatSync(layer.fd);
  const source = st.isFile() ? fs.createReadStream('', { fd: layer.fd, highWaterMark: 1 << 20, autoClose: true }) : st.isSocket() || st.isFIFO() ? new net.Socket({ fd: layer.fd, readable: true, writable: false }) : fs.createReadStream('', { fd: layer.fd, highWaterMark: 1 << 18, autoClose: true });
  const first = await head(source, 512);
  const input = first.stream;
  const kind = detectCompression(first.bytes);
  if (kind === null) {
    throw new UnsafeEntryError(`${layer.name} is not ${layer.kind === 'aci' ? 'an ACI' : 'a layer'}: neither a tar archive nor a gzip, zstd, xz or bzip2 compressed one`);
  }
  let read = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      read += chunk.length;
      if (layer.size !== null && read > layer.size) return cb(new UnsafeEntryError(`layer ${layer.name} is longer than the ${layer.size} bytes its descriptor says`));
      hash?.update(chunk);
      cb(null, chunk);
    },
  });
  const state = new LayerState();
  const reader = new TarReader((h) => beginEntry(h, layer.kind, state, ctx));
  // The decompressed bytes are parsed and applied synchronously, chunk by chunk, as they come.
  let expanded = 0;
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _e, cb) {
      expanded += chunk.length;
      if (expanded > 1024 * 1024 * 64 && expanded > ctx.limits.maxRatio * read) {
        return cb(new UnsafeEntryError(`layer ${layer.name} expands more than ${ctx.limits.maxRatio} times (a decompression bomb); raise limits.maxRatio in ~/.config/ward/config.json if it is genuine`));
      }
      // Later, not now: returning first lets zlib start on the next chunk on its pool thread
      // while this one is applied, instead of the two taking turns.
      setImmediate(() => {
        try {
          reader.write(chunk);
          cb();
        } catch (e) {
          cb(e as Error);
        }
      });
    },
    final(cb) {
      try {
        reader.end();
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  try {
    // Compressed bytes reach the decompressor in pieces of 1 MiB, not of a pipe's size while the
    // layer streams in: fewer round trips to zlib's thread.
    await decompressInto(kind, [input, meter, batcher()], [sink]);
  } finally {
    reader.abort();
  }
  state.finish();
  if (layer.size !== null && read !== layer.size) throw new UnsafeEntryError(`layer ${layer.name} has ${read} bytes, its descriptor says ${layer.size}`);
  const want = layer.digest.replace(/^sha512:/, 'sha512-');
  if (!hash) return want;
  const hex = hash.digest('hex');
  const got = alg === 'sha512' ? `sha512-${hex}` : `sha256:${hex}`;
  if (want !== '' && want !== got) throw new UnsafeEntryError(`layer ${layer.name} has digest ${got}, not ${want} as its manifest says`);
  return got;
}

async function render(job: RenderJob): Promise<RenderAnswer> {
  // Modes are the image's, not the caller's umask's: a new file or directory gets exactly the
  // mode asked for (so fchmod is needed only for special bits), and implicit parents are 0755.
  process.umask(0);
  fs.mkdirSync(ROOT, { mode: 0o755 });
  // Every path from here on is relative to the tree: resolving /proc/self/fd/3 (a magic link,
  // with its access check) on each of the ~10 calls per entry cost more than the calls' own work.
  process.chdir(ROOT);
  const ctx: EntryContext = { root: '.', limits: job.limits, entries: 0, bytes: 0, manifest: null, dirModes: [], contents: new Map(), owners: true, dirs: new Set() };
  const digests: string[] = [];
  // Whole files are made on a thread of their own; at most 8 MiB and 64 files queued.
  ctx.writer = addon().fileWriter(8 << 20, 64);
  ctx.made = new Set();
  ctx.queued = new Set();
  try {
    for (const layer of job.layers) {
      try {
        digests.push(await applyLayer(layer, ctx));
      } catch (e) {
        // Every refusal names the image (and layer) it is about.
        if (e instanceof UnsafeEntryError && !e.message.startsWith(layer.name)) throw new UnsafeEntryError(`${layer.name}: ${e.message}`);
        throw e;
      }
    }
    fence(ctx);
  } finally {
    ctx.writer?.close();
    delete ctx.writer;
  }
  applyDirModes(ctx);
  if (job.layers.some((l) => l.kind === 'aci') && ctx.manifest === null) throw new UnsafeEntryError('the ACI has no manifest');
  const tree = treeDigest('.', { uid: 0, gid: 0 }, ctx.contents);
  return { ok: true, entries: ctx.entries, bytes: ctx.bytes, manifest: ctx.manifest?.toString('base64') ?? null, digests, tree };
}

/**
 * serve: the job, as the caller sends it when it knows the layers: one frame of JSON (the job
 * without fds), then one frame per layer carrying that layer's fd (a socket it streams into, or
 * a blob file). null: the caller closed the socket first (it needed no extractor after all).
 */
async function receiveJob(fd: number): Promise<RenderJob | null> {
  const a = addon();
  // The caller may still be resolving the image (auth, a slow registry): wait as long as it lives.
  const head = await a.recvFrame(fd, 1 << 20, 0, 24 * 3600 * 1000);
  if (head === null) return null;
  const job = JSON.parse(head.data.toString('utf8')) as RenderJob;
  if (!Array.isArray(job.layers) || job.layers.length === 0 || job.layers.length > 4096) throw new Error('the job names no layers or too many');
  for (const layer of job.layers) {
    const f = await a.recvFrame(fd, 16, 1, 60 * 1000);
    if (f === null || f.fds.length !== 1) throw new Error('the job\'s layers came without their fds');
    layer.fd = f.fds[0]!;
  }
  a.close(fd);
  return job;
}

async function waitForVerdict(): Promise<void> {
  const ctl = fs.createReadStream('', { fd: 4 });
  let text = '';
  for await (const chunk of ctl) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  if (!text.startsWith('keep')) fs.rmSync(ROOT, { recursive: true, force: true });
}

let reported = false;
function report(msg: object): void {
  if (reported) return;
  reported = true;
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function failure(e: unknown): { error: string } {
  return { error: e instanceof UnsafeEntryError ? e.message : `extraction failed: ${(e as Error).message}` };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--export') {
    await packTree(ROOT, process.argv[3] === 'rootfs-only', fs.existsSync(`${TOP}/manifest`) ? { file: `${TOP}/manifest` } : null).catch((e: unknown) => {
      process.stderr.write(`Error: ${(e as Error).message}\n`);
      process.exitCode = 1;
    });
    return;
  }
  if (process.argv[2] === '--digest') {
    // ward image verify: re-hash the whole tree, trusting nothing recorded.
    process.stdout.write(JSON.stringify({ tree: treeDigest(ROOT) }) + '\n');
    return;
  }
  if (process.argv[2] === '--remove') {
    fs.rmSync(ROOT, { recursive: true, force: true });
    return;
  }
  // Whatever goes wrong, the parent gets one answer, and the tree is removed unless kept.
  process.on('uncaughtException', (e) => report(failure(e)));
  try {
    const job = process.argv[2] === 'serve' ? await receiveJob(JOB_FD) : (JSON.parse(process.argv[3] ?? '') as RenderJob);
    if (job === null) return; // nothing was asked, nothing was made
    job.limits = { ...DEFAULT_LIMITS, ...job.limits };
    report(await render(job));
  } catch (e) {
    report(failure(e));
    fs.rmSync(ROOT, { recursive: true, force: true }); // a refused tree is of no use to anyone
  }
  await waitForVerdict();
}

if (require.main === module) void main();
