// A Docker/OCI image config as an appc image manifest, so the rest of ward speaks appc. The
// mapping follows docker2aci (appc/docker2aci lib/internal) where it had one, and docker's own
// semantics where docker2aci was loose:
//   exec         Entrypoint + Cmd; when both are absent there is no app.exec and `ward run`
//                refuses at run time (a command given on the command line can still be used)
//   environment  Env, NAME=VALUE each (anything else is refused); a repeated NAME: the last wins
//   workingDir   WorkingDir, default "/"; must be absolute
//   user/group   User: "" → 0/0; "u:g" → u/g; "u" alone → u/u as docker2aci, with the original
//                kept in the ward/docker/user annotation, because docker takes the group from
//                u's /etc/passwd entry, which only the rendered tree can tell. Names stay names.
//   ports        ExposedPorts "80/tcp" (proto defaults to tcp) → { name: "80-tcp", protocol, port }
//   mountPoints  Volumes "/var/lib/x" → { name: "volume-var-lib-x", path } (docker2aci's naming;
//                repeats get -1, -2, ...)
//   labels       os, arch (appc names: arm64 → aarch64, 386 → i386), version = the tag
//   annotations  appc.io/docker/{registryurl,repository,tag,originalname,manifesthash,imageid,
//                entrypoint,cmd} as docker2aci writes them, created, ward/source-transport, and
//                every config Label: its key lower-cased, characters an AC Identifier cannot hold
//                turned into '-', runs of separators cut to their first, ends trimmed, at most
//                512 characters; a key that would land in a namespace ward writes (appc.io/,
//                ward/, created) is put under label/; a key that maps to a name already taken
//                gets -2, -3, ... (keys are taken in sorted order, so the result is stable).
import path from 'node:path';
import { ImageManifest } from '../../schema/aci';
import { AppcMountPoint, AppcPort } from '../../schema/appc-app';
import type { ImageConfig } from '../../schema/oci';
import { WardError } from '../../schema/errors';
import type { ResolvedImage } from '../source';
import { identityOf } from './reference';

export const APPC_VERSION = '0.8.11';

export const ANNOTATION = {
  registry: 'appc.io/docker/registryurl',
  repository: 'appc.io/docker/repository',
  tag: 'appc.io/docker/tag',
  originalName: 'appc.io/docker/originalname',
  manifestHash: 'appc.io/docker/manifesthash',
  imageId: 'appc.io/docker/imageid',
  entrypoint: 'appc.io/docker/entrypoint',
  cmd: 'appc.io/docker/cmd',
  created: 'created',
  user: 'ward/docker/user',
  transport: 'ward/source-transport',
} as const;

export interface ToAppcOptions {
  /** The name the source gave the image (ResolvedImage.name). */
  name: string;
  /** Digest of the source manifest, kept as appc.io/docker/manifesthash. */
  manifestDigest: string;
  transport: ResolvedImage['transport'];
  /** Digest of the config (docker's image id), kept as appc.io/docker/imageid. */
  configDigest?: string;
}

const SEP = '-._~/@:+';
const sepRe = /[-._~/@:+]/;

/** Any string as an AC Identifier (see the header), or '' when nothing of it survives. */
export function toAcIdentifier(s: string): string {
  let out = '';
  for (const ch of s.toLowerCase()) {
    const c = /[a-z0-9]/.test(ch) || SEP.includes(ch) ? ch : '-';
    if (sepRe.test(c) && (out === '' || sepRe.test(out[out.length - 1]!))) continue;
    out += c;
  }
  out = out.slice(0, 512);
  while (out !== '' && sepRe.test(out[out.length - 1]!)) out = out.slice(0, -1);
  return out;
}

/** Any string as an appc ACName (alphanumerics joined by single dashes), as SanitizeACName, with runs collapsed. */
export function toAcName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 512).replace(/-+$/, '');
}

const APPC_ARCH: Record<string, string> = { amd64: 'amd64', '386': 'i386', arm64: 'aarch64', arm: 'armv7l', ppc64le: 'ppc64le', ppc64: 'ppc64', s390x: 's390x' };

export function ociToAppc(config: ImageConfig, o: ToAppcOptions): ImageManifest {
  const fail = (msg: string): never => {
    throw new WardError('EIMAGE', `image ${o.name}: ${msg}`);
  };
  const noNul = (s: string, field: string) => {
    if (/[\u0000]/.test(s)) fail(`${field} contains a NUL character; the image is corrupt or hostile`);
    return s;
  };
  const c = config.config ?? {};
  let id: ReturnType<typeof identityOf>;
  try {
    id = identityOf(o.transport, o.name);
  } catch (e) {
    return fail(`no appc name can be made from its reference (${(e as Error).message})`);
  }
  const appcName = toAcIdentifier([id.registry, id.repository].filter(Boolean).join('/')) || fail('no appc name can be made from its reference');

  const exec = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])].map((a) => noNul(a, 'Entrypoint/Cmd'));

  const env = new Map<string, string>();
  for (const e of c.Env ?? []) {
    const eq = e.indexOf('=');
    if (eq <= 0) fail(`its config has the malformed Env entry '${e.slice(0, 80)}' (each must be NAME=VALUE)`);
    env.set(noNul(e.slice(0, eq), 'an Env name'), noNul(e.slice(eq + 1), 'an Env value'));
  }

  const workingDirectory = noNul(c.WorkingDir || '/', 'WorkingDir');
  if (!workingDirectory.startsWith('/')) fail(`its WorkingDir '${workingDirectory.slice(0, 200)}' is not an absolute path`);

  const userSpec = noNul(c.User ?? '', 'User');
  const ug = userSpec === '' ? ['0', '0'] : userSpec.split(':');
  if (ug.length > 2 || ug.some((p) => p === '' || /\s/.test(p))) fail(`its User '${userSpec.slice(0, 80)}' is not USER, USER:GROUP (names or numbers)`);

  const ports = new Map<string, AppcPort>();
  for (const key of Object.keys(c.ExposedPorts ?? {})) {
    const m = /^([0-9]{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key);
    const port = m ? Number(m[1]) : 0;
    if (!m || port < 1 || port > 65535) fail(`its ExposedPorts entry '${key.slice(0, 80)}' is not PORT[/tcp|udp|sctp]`);
    const protocol = (m![2] ?? 'tcp').toLowerCase();
    ports.set(`${port}-${protocol}`, { name: `${port}-${protocol}`, protocol, port });
  }

  const mountPoints: AppcMountPoint[] = [];
  const volumeNames = new Map<string, number>();
  for (const v of Object.keys(c.Volumes ?? {}).sort()) {
    noNul(v, 'a Volumes path');
    if (!v.startsWith('/')) fail(`its volume '${v.slice(0, 200)}' is not an absolute path`);
    const p = path.posix.normalize(v);
    let name = toAcName(`volume/${p}`);
    const seen = volumeNames.get(name);
    volumeNames.set(name, (seen ?? 0) + 1);
    if (seen !== undefined) name = `${name}-${seen}`;
    mountPoints.push({ name, path: p });
  }
  mountPoints.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const labels: { name: string; value: string }[] = [];
  if (id.tag) labels.push({ name: 'version', value: id.tag });
  if (config.os) labels.push({ name: 'os', value: config.os });
  if (config.architecture) labels.push({ name: 'arch', value: APPC_ARCH[config.architecture] ?? config.architecture });

  const annotations = new Map<string, string>();
  const set = (k: string, v: string | undefined) => {
    if (v) annotations.set(k, v);
  };
  set(ANNOTATION.registry, id.registry);
  set(ANNOTATION.repository, id.repository);
  set(ANNOTATION.tag, id.tag);
  set(ANNOTATION.originalName, o.name);
  set(ANNOTATION.manifestHash, o.manifestDigest);
  set(ANNOTATION.imageId, o.configDigest);
  if (c.Entrypoint?.length) set(ANNOTATION.entrypoint, JSON.stringify(c.Entrypoint));
  if (c.Cmd?.length) set(ANNOTATION.cmd, JSON.stringify(c.Cmd));
  set(ANNOTATION.created, config.created);
  if (ug.length === 1) set(ANNOTATION.user, userSpec);
  set(ANNOTATION.transport, o.transport);
  for (const key of Object.keys(c.Labels ?? {}).sort()) {
    let name = toAcIdentifier(key);
    if (name === '') continue;
    if (/^(appc\.io|ward)\//.test(name) || name === ANNOTATION.created) name = `label/${name}`.slice(0, 512);
    let unique = name;
    for (let n = 2; annotations.has(unique); n++) unique = `${name}-${n}`;
    annotations.set(unique, c.Labels![key]!);
  }

  const manifest = {
    acKind: 'ImageManifest',
    acVersion: APPC_VERSION,
    name: appcName,
    labels,
    app: {
      ...(exec.length ? { exec } : {}),
      user: ug[0]!,
      group: ug[1] ?? ug[0]!,
      workingDirectory,
      environment: [...env].map(([name, value]) => ({ name, value })),
      mountPoints,
      ports: [...ports.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    },
    annotations: [...annotations].map(([name, value]) => ({ name, value })),
  };
  const checked = ImageManifest.safeParse(manifest);
  const extras = [...manifest.app.ports.map((p) => AppcPort.safeParse(p)), ...mountPoints.map((m) => AppcMountPoint.safeParse(m))];
  const problem = !checked.success ? checked.error.issues[0] : extras.find((r) => !r.success)?.error?.issues[0];
  if (problem || !checked.success) fail(`its config does not convert to a valid appc manifest: ${problem?.path.join('.') || '(top)'}: ${problem?.message}`);
  return checked.data!;
}
