// --volume and --mount of ward run / prepare, in rkt's syntax, into the request's pod-level
// volumes and the app's mounts. The helper checks everything again against its policy; here a
// malformed value is refused with one line naming it.
//   --volume NAME,kind=host,source=/PATH[,readOnly=true][,recursive=false][,selinuxRelabel=shared|private]
//   --volume NAME,kind=empty[,mode=0755][,uid=N][,gid=N][,readOnly=true]
//   --mount volume=NAME,target=/PATH
// An image's mountPoints (appc) are mounted by volume name where no --mount names the volume.
import { WardError } from '../schema/errors';
import { AppcMountPoint } from '../schema/appc-app';
import type { ImageManifest } from '../schema/aci';
import { MAX_VOLUMES, PodPath, VolumeName, type Volume, type VolumeMount } from '../schema/protocol';

function usage(flag: string, value: string, why: string): WardError {
  return new WardError('EUSAGE', `${flag} ${value}: ${why}`);
}

function keyValues(flag: string, value: string, parts: string[], allowed: readonly string[]): Map<string, string> {
  const kv = new Map<string, string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw usage(flag, value, `'${part}' is not KEY=VALUE`);
    const k = part.slice(0, eq);
    if (!allowed.includes(k)) throw usage(flag, value, `unknown key '${k}'; known: ${allowed.join(', ')}`);
    if (kv.has(k)) throw usage(flag, value, `'${k}' is given twice`);
    kv.set(k, part.slice(eq + 1));
  }
  return kv;
}

function bool(flag: string, value: string, k: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true' || v === 'false') return v === 'true';
  throw usage(flag, value, `${k} must be true or false, not '${v}'`);
}

function id(flag: string, value: string, k: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (/^\d{1,5}$/.test(v) && Number(v) <= 65535) return Number(v);
  throw usage(flag, value, `${k} must be a number from 0 to 65535, not '${v}'`);
}

function podPath(flag: string, value: string, k: string, v: string | undefined): string {
  if (v === undefined || v === '') throw usage(flag, value, `${k}=/PATH is required`);
  const p = v.length > 1 ? v.replace(/\/+$/, '') : v;
  const r = PodPath.safeParse(p);
  if (!r.success) throw usage(flag, value, `${k} ${r.error.issues[0]?.message ?? 'is not a valid path'} (an absolute path without "." or "..")`);
  return p;
}

export function parseVolume(value: string): Volume {
  const flag = '--volume';
  const [name = '', ...rest] = value.split(',');
  if (!VolumeName.safeParse(name).success) throw usage(flag, value, `'${name}' is not a volume name (lower-case letters, digits and single dashes, as NAME,kind=...)`);
  const kind = rest.find((p) => p.startsWith('kind='))?.slice(5);
  if (kind === 'host') {
    const kv = keyValues(flag, value, rest, ['kind', 'source', 'readOnly', 'recursive', 'selinuxRelabel']);
    const relabel = kv.get('selinuxRelabel');
    if (relabel !== undefined && relabel !== 'shared' && relabel !== 'private') throw usage(flag, value, `selinuxRelabel must be shared (:z) or private (:Z), not '${relabel}'`);
    const readOnly = bool(flag, value, 'readOnly', kv.get('readOnly'));
    const recursive = bool(flag, value, 'recursive', kv.get('recursive'));
    return {
      name, kind, source: podPath(flag, value, 'source', kv.get('source')),
      ...(readOnly !== undefined ? { readOnly } : {}), ...(recursive !== undefined ? { recursive } : {}), ...(relabel ? { selinuxRelabel: relabel } : {}),
    };
  }
  if (kind === 'empty') {
    const kv = keyValues(flag, value, rest, ['kind', 'mode', 'uid', 'gid', 'readOnly']);
    const m = kv.get('mode');
    if (m !== undefined && !/^0?[0-7]{1,4}$/.test(m)) throw usage(flag, value, `mode must be octal permission bits such as 0755, not '${m}'`);
    const readOnly = bool(flag, value, 'readOnly', kv.get('readOnly'));
    const uid = id(flag, value, 'uid', kv.get('uid'));
    const gid = id(flag, value, 'gid', kv.get('gid'));
    return {
      name, kind,
      ...(m !== undefined ? { mode: parseInt(m, 8) } : {}), ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}), ...(readOnly !== undefined ? { readOnly } : {}),
    };
  }
  throw usage(flag, value, kind === undefined ? 'kind=host or kind=empty is required' : `unknown kind '${kind}'; use host or empty`);
}

export function parseMount(value: string): VolumeMount {
  const flag = '--mount';
  const kv = keyValues(flag, value, value.split(','), ['volume', 'target']);
  const volume = kv.get('volume') ?? '';
  if (!VolumeName.safeParse(volume).success) throw usage(flag, value, volume ? `'${volume}' is not a volume name` : 'volume=NAME is required');
  return { volume, path: podPath(flag, value, 'target', kv.get('target')) };
}

/** An app's own --mount values (after its image), each well-formed; the image is named in the refusal. */
export function checkAppMounts(image: string, values: readonly string[]): void {
  for (const v of values) {
    try {
      parseMount(v);
    } catch (e) {
      throw new WardError('EUSAGE', `${(e as Error).message} (for image ${image})`);
    }
  }
}

/** The pod's volumes from every --volume. */
export function parseVolumes(values: readonly string[]): Volume[] {
  const volumes = values.map(parseVolume);
  if (volumes.length > MAX_VOLUMES) throw new WardError('EUSAGE', `--volume: at most ${MAX_VOLUMES} volumes per pod`);
  const seen = new Set<string>();
  for (const v of volumes) {
    if (seen.has(v.name)) throw new WardError('EUSAGE', `--volume ${v.name}: given twice; give each volume once`);
    seen.add(v.name);
  }
  return volumes;
}

/**
 * The app's mounts: every --mount (each naming a volume of the pod), then the image's mount
 * points whose volume no --mount names (rkt's matching by name).
 */
export function mountsFor(manifest: ImageManifest, volumes: readonly Volume[], values: readonly string[]): VolumeMount[] {
  const mounts = values.map(parseMount);
  const names = new Set(volumes.map((v) => v.name));
  for (const m of mounts) {
    if (!names.has(m.volume)) throw new WardError('EUSAGE', `--mount volume=${m.volume}: the pod has no such volume; add --volume ${m.volume},kind=...`);
  }
  const explicit = new Set(mounts.map((m) => m.volume));
  for (const raw of manifest.app?.mountPoints ?? []) {
    const mp = AppcMountPoint.safeParse(raw);
    if (!mp.success || !names.has(mp.data.name) || explicit.has(mp.data.name)) continue;
    const p = PodPath.safeParse(mp.data.path.length > 1 ? mp.data.path.replace(/\/+$/, '') : mp.data.path);
    if (!p.success) throw new WardError('EIMAGE', `image ${manifest.name}: mount point ${mp.data.name} has a path ward cannot mount (${mp.data.path}); use --mount volume=${mp.data.name},target=/PATH`);
    mounts.push({ volume: mp.data.name, path: p.data, ...(mp.data.readOnly !== undefined ? { readOnly: mp.data.readOnly } : {}) });
  }
  if (mounts.length > MAX_VOLUMES) throw new WardError('EUSAGE', `--mount: at most ${MAX_VOLUMES} mounts per app`);
  const targets = new Map<string, string>();
  for (const m of mounts) {
    const other = targets.get(m.path);
    if (other !== undefined) throw new WardError('EUSAGE', `--mount: the app of image ${manifest.name} would get volumes ${other} and ${m.volume} both at ${m.path}; give each mount its own target`);
    targets.set(m.path, m.volume);
  }
  return mounts;
}
