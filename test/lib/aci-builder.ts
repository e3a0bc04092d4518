// Builds small, real ACIs from the host's busybox-static for tests, the demo and benchmarks.
import fs from 'node:fs';
import zlib from 'node:zlib';
import tar from 'tar-stream';

export const APPLETS = ['sh', 'cat', 'ls', 'id', 'hostname', 'echo', 'true', 'false', 'sleep', 'ps', 'mount', 'unshare',
  'grep', 'head', 'wc', 'stat', 'touch', 'kill', 'env', 'readlink', 'dd', 'pivot_root', 'cut', 'tr', 'awk', 'sed', 'mkdir', 'rm', 'test', 'printf', 'tail', 'od', 'umount', 'chroot'];

export interface AciOptions {
  name?: string;
  exec?: string[];
  user?: string;
  group?: string;
  workingDirectory?: string;
  env?: Record<string, string>;
  /** Extra files: path inside rootfs -> host file to copy (mode kept). */
  files?: Record<string, string>;
  /** Write a gzip-compressed ACI (the default) or a plain tar. */
  gzip?: boolean;
  /** Raw manifest override (for hostile-manifest tests). */
  manifest?: unknown;
  /** Top-level rootfs dirs to leave out (so a hostile entry can take their place). */
  omitDirs?: string[];
  /** Extra raw entries, added after the rest (names relative to the ACI, e.g. rootfs/proc). */
  entries?: { name: string; type: 'symlink' | 'directory' | 'file' | 'link' | 'character-device' | 'fifo'; linkname?: string; mode?: number; body?: string; uid?: number; gid?: number; devmajor?: number; devminor?: number }[];
}

export function manifestFor(o: AciOptions): object {
  return {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: o.name ?? 'example.com/busybox',
    labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }, { name: 'version', value: '1.35.0' }],
    app: {
      exec: o.exec ?? ['/bin/sh'],
      user: o.user ?? '0',
      group: o.group ?? '0',
      workingDirectory: o.workingDirectory ?? '/',
      environment: Object.entries(o.env ?? {}).map(([name, value]) => ({ name, value })),
    },
  };
}

export async function buildBusyboxAci(out: string, o: AciOptions = {}): Promise<void> {
  const pack = tar.pack();
  // Drain while adding: pack.entry waits for its bytes to be consumed.
  const chunks: Buffer[] = [];
  const drained = new Promise<void>((res, rej) => {
    pack.on('data', (c) => chunks.push(c as Buffer));
    pack.on('end', res);
    pack.on('error', rej);
  });
  const add = (h: Partial<tar.Header> & { name: string }, body?: Buffer) => new Promise<void>((res, rej) => { const cb = (e?: Error | null) => (e ? rej(e) : res()); if (body) pack.entry(h as tar.Header, body, cb); else pack.entry(h as tar.Header, cb); });
  const dir = (name: string, mode = 0o755) => add({ name, type: 'directory', mode, uid: 0, gid: 0 });
  await add({ name: 'manifest', type: 'file', mode: 0o644 }, Buffer.from(JSON.stringify(o.manifest ?? manifestFor(o))));
  await dir('rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'root', 'usr', 'usr/bin'].filter((x) => !o.omitDirs?.includes(x))) await dir(`rootfs/${d}`, d === 'tmp' ? 0o1777 : 0o755);
  await add({ name: 'rootfs/bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0 }, fs.readFileSync('/bin/busybox'));
  for (const a of APPLETS) await add({ name: `rootfs/bin/${a}`, type: 'symlink', linkname: 'busybox', uid: 0, gid: 0 });
  await add({ name: 'rootfs/etc/passwd', type: 'file', mode: 0o644 }, Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n'));
  await add({ name: 'rootfs/etc/group', type: 'file', mode: 0o644 }, Buffer.from('root:x:0:\nnogroup:x:65534:\n'));
  for (const [inside, host] of Object.entries(o.files ?? {})) {
    const st = fs.statSync(host);
    await add({ name: `rootfs/${inside.replace(/^\//, '')}`, type: 'file', mode: st.mode & 0o7777, uid: 0, gid: 0 }, fs.readFileSync(host));
  }
  for (const e of o.entries ?? []) {
    await add({ name: e.name, type: e.type, linkname: e.linkname, mode: e.mode ?? 0o755, uid: e.uid ?? 0, gid: e.gid ?? 0, devmajor: e.devmajor, devminor: e.devminor }, e.body === undefined ? undefined : Buffer.from(e.body));
  }
  pack.finalize();
  await drained;
  const tarBytes = Buffer.concat(chunks);
  fs.writeFileSync(out, o.gzip === false ? tarBytes : zlib.gzipSync(tarBytes, { level: 1 }), { mode: 0o644 });
}

if (require.main === module) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: aci-builder OUT.aci\n');
    process.exit(2);
  }
  void buildBusyboxAci(out).then(() => process.stdout.write(`${out}\n`));
}
