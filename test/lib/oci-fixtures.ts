// OCI image layouts and docker-save archives for tests: written by hand (busybox-static as the
// content, so the bytes are real), or made by the real tools (umoci, skopeo). Hand-written ones
// can be bent into every hostile shape the sources must refuse.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string; variant?: string };
}

export const sha256 = (b: Buffer | string) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

import { tarOf, type Entry } from './layers';
export type { Entry as TarEntry } from './layers';
export { tarOf } from './layers';

/** A rootfs layer with busybox-static and a few applets, as an uncompressed tar. */
export async function busyboxLayer(): Promise<Buffer> {
  const entries: Entry[] = [{ name: 'bin/', type: 'directory' }, { name: 'bin/busybox', body: fs.readFileSync('/bin/busybox'), mode: 0o755 }];
  for (const a of ['sh', 'echo', 'cat', 'ls', 'true']) entries.push({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  entries.push({ name: 'etc/', type: 'directory' }, { name: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/sh\n' });
  return tarOf(entries);
}

/** Writes bytes as blobs/sha256/<hex> of a layout and returns the descriptor. */
export function putBlob(layout: string, bytes: Buffer | string, mediaType: string, extra: Partial<Desc> = {}): Desc {
  const b = Buffer.from(bytes);
  const digest = sha256(b);
  const dir = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, digest.slice(7)), b);
  return { mediaType, digest, size: b.length, ...extra };
}

export function blobPath(layout: string, digest: string): string {
  return path.join(layout, 'blobs', ...digest.split(':'));
}

export function writeIndex(layout: string, manifests: Desc[], raw?: string): void {
  fs.mkdirSync(layout, { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(layout, 'index.json'), raw ?? JSON.stringify({ schemaVersion: 2, manifests }));
}

export interface HandImage {
  layer: Desc;
  config: Desc;
  manifest: Desc;
  configJson: Record<string, unknown>;
}

/** A complete image (busybox layer, config, manifest) in `layout`, without touching index.json. */
export async function putImage(layout: string, o: { arch?: string; config?: Record<string, unknown>; layer?: Buffer } = {}): Promise<HandImage> {
  const raw = o.layer ?? (await busyboxLayer());
  const layer = putBlob(layout, zlib.gzipSync(raw), OCI_LAYER_GZIP);
  const configJson = {
    architecture: o.arch ?? 'amd64',
    os: 'linux',
    config: { Entrypoint: ['/bin/sh'], Cmd: ['-c', 'echo hi'], Env: ['PATH=/bin'], ...o.config },
    rootfs: { type: 'layers', diff_ids: [sha256(raw)] },
  };
  const config = putBlob(layout, JSON.stringify(configJson), OCI_CONFIG);
  const manifest = putBlob(layout, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), OCI_MANIFEST);
  return { layer, config, manifest, configJson };
}

/** A hand-written layout holding one busybox image under `ref`. */
export async function handLayout(layout: string, ref = 'latest', o: Parameters<typeof putImage>[1] = {}): Promise<HandImage> {
  const img = await putImage(layout, o);
  writeIndex(layout, [{ ...img.manifest, annotations: { [REF_NAME]: ref } }]);
  return img;
}

/** A layout made by umoci: init, new, insert of a busybox rootfs, config. */
export function umociLayout(layout: string, scratch: string, tag = 'latest'): void {
  const rootfs = path.join(scratch, 'umoci-rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(rootfs, 'bin', 'sh'));
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:${tag}`]);
  run('umoci', ['insert', '--rootless', '--image', `${layout}:${tag}`, rootfs, '/']);
  run('umoci', ['config', '--image', `${layout}:${tag}`, '--config.entrypoint=/bin/sh', '--config.cmd=-c', '--config.cmd=echo hi', '--config.user=1000:1000',
    '--config.exposedports=8080/tcp', '--config.volume=/data', '--config.label=org.opencontainers.image.title=busybox', '--config.env=FOO=bar', '--config.workingdir=/tmp']);
}

/** A tar of the given members (names as given, so hostile names can be written). */
export async function archiveOf(members: Entry[]): Promise<Buffer> {
  return tarOf(members);
}

/** The members of a layout directory, as an oci-archive would hold them. */
export function layoutMembers(layout: string): Entry[] {
  const out: Entry[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(layout, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(path.join(layout, r));
      if (st.isDirectory()) {
        out.push({ name: `${r}/`, type: 'directory' });
        walk(r);
      } else out.push({ name: r, body: fs.readFileSync(path.join(layout, r)) });
    }
  };
  walk('');
  return out;
}
