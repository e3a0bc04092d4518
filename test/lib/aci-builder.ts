// Builds small, real ACIs from the host's busybox-static for tests, the demo and benchmarks.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { tarOf, type Entry } from './layers';

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
  entries?: Entry[];
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
  const entries: Entry[] = [
    { name: 'manifest', mode: 0o644, body: JSON.stringify(o.manifest ?? manifestFor(o)) },
    { name: 'rootfs', type: 'directory' },
  ];
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'root', 'usr', 'usr/bin'].filter((x) => !o.omitDirs?.includes(x))) {
    entries.push({ name: `rootfs/${d}`, type: 'directory', mode: d === 'tmp' ? 0o1777 : 0o755 });
  }
  entries.push({ name: 'rootfs/bin/busybox', mode: 0o755, body: fs.readFileSync('/bin/busybox') });
  for (const a of APPLETS) entries.push({ name: `rootfs/bin/${a}`, type: 'symlink', linkname: 'busybox' });
  entries.push({ name: 'rootfs/etc/passwd', mode: 0o644, body: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' });
  entries.push({ name: 'rootfs/etc/group', mode: 0o644, body: 'root:x:0:\nnogroup:x:65534:\n' });
  for (const [inside, host] of Object.entries(o.files ?? {})) {
    entries.push({ name: `rootfs/${inside.replace(/^\//, '')}`, mode: fs.statSync(host).mode & 0o7777, body: fs.readFileSync(host) });
  }
  for (const e of o.entries ?? []) entries.push({ ...e, mode: e.mode ?? 0o755 });
  const tarBytes = await tarOf(entries);
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
