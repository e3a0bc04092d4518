// Builds OCI layer tarballs for tests, compressed with the real tools.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';
import tar from 'tar-stream';

export interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  body?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** PAX records (e.g. SCHILY.xattr.security.capability). */
  pax?: Record<string, string>;
  devmajor?: number;
  devminor?: number;
  /** Default: the epoch, so the same entries always make the same bytes (and digests). */
  mtime?: Date;
}

/** The one tar packer of the tests: entries in order, deterministic unless told otherwise. */
export async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((res, rej) => {
    pack.on('data', (c) => chunks.push(c as Buffer));
    pack.on('end', res);
    pack.on('error', rej);
  });
  for (const e of entries) {
    const h = { name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime ?? new Date(0), devmajor: e.devmajor, devminor: e.devminor, ...(e.pax ? { pax: e.pax } : {}) } as tar.Header;
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      const body = e.body ?? ((e.type ?? 'file') === 'file' ? '' : undefined);
      if (body !== undefined) pack.entry(h, Buffer.from(body), cb);
      else pack.entry(h, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function compress(data: Buffer, how: 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2'): Buffer {
  if (how === 'none') return data;
  if (how === 'gzip') return zlib.gzipSync(data);
  const cmd = { zstd: ['zstd', '-c', '-q'], xz: ['xz', '-c'], bzip2: ['bzip2', '-c'] }[how];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${how} failed: ${r.stderr}`);
  return r.stdout;
}

/** Writes a layer file (world-readable) and returns its descriptor fields. */
export function writeLayer(file: string, bytes: Buffer): { file: string; digest: string; size: number } {
  fs.writeFileSync(file, bytes, { mode: 0o644 });
  return { file, digest: 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}
