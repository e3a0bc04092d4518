// Image references as users type them and as sources name what they resolved:
//   oci:DIR[:REF]  oci-archive:FILE[:REF]  docker-archive:FILE[:REF]
// split at the first ':' after the transport, as skopeo does (so DIR and FILE cannot contain
// ':'), and docker references ([REGISTRY[:PORT]/]REPO[:TAG][@DIGEST]) reduced to the parts an
// appc name is made from.
import path from 'node:path';
import { ImageSourceError } from '../source';

export type LocalTransport = 'oci' | 'oci-archive' | 'docker-archive';

export interface LocalReference {
  transport: LocalTransport;
  path: string;
  ref?: string;
}

/** A local image reference, or null when `spec` names another transport. */
export function parseLocalReference(spec: string): LocalReference | null {
  const m = /^(oci|oci-archive|docker-archive):(.*)$/s.exec(spec);
  if (!m) return null;
  const transport = m[1] as LocalTransport;
  const rest = m[2]!;
  const colon = rest.indexOf(':');
  const file = colon < 0 ? rest : rest.slice(0, colon);
  const ref = colon < 0 ? undefined : rest.slice(colon + 1);
  if (file === '') throw new ImageSourceError('EIMAGE', `'${spec}' names no ${transport === 'oci' ? 'directory' : 'file'}; write ${transport}:PATH[:REF]`);
  if (ref !== undefined && (ref === '' || ref.length > 256 || /[\s\u0000-\u001f]/.test(ref))) {
    throw new ImageSourceError('EIMAGE', `'${spec}': the image reference after the path is empty or malformed (the path may not contain ':')`);
  }
  return { transport, path: file, ...(ref !== undefined ? { ref } : {}) };
}

export interface DockerReference {
  registry?: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Splits a docker reference; null if it is not one (e.g. a bare tag such as "latest" has no repository to speak of). */
export function parseDockerReference(s: string): DockerReference | null {
  if (s.length === 0 || s.length > 1024 || /[\s\u0000-\u001f]/.test(s)) return null;
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^[a-z0-9]+:[0-9a-f]{32,}$/.test(digest)) return null;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) return null;
  }
  const parts = rest.split('/');
  let registry: string | undefined;
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0]!)) registry = parts.shift();
  if (registry !== undefined && !/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9a-fA-F:]+\](:[0-9]{1,5})?$/.test(registry)) return null;
  if (parts.length === 0 || !parts.every((p) => /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(p))) return null;
  return { ...(registry ? { registry } : {}), repository: parts.join('/'), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** docker's short form, for matching RepoTags: docker.io/library/ dropped, :latest added. */
export function familiarName(s: string): string {
  const r = parseDockerReference(s);
  if (!r) return s;
  let repo = r.repository;
  const hub = r.registry === undefined || r.registry === 'docker.io' || r.registry === 'index.docker.io' || r.registry === 'registry-1.docker.io';
  if (hub && repo.startsWith('library/')) repo = repo.slice('library/'.length);
  return `${hub ? '' : `${r.registry}/`}${repo}${r.digest ? `@${r.digest}` : `:${r.tag ?? 'latest'}`}`;
}

export interface ImageIdentity {
  registry?: string;
  repository: string;
  tag?: string;
}

/**
 * What an image is called, from the name its source gave it (ResolvedImage.name): a docker
 * reference for `docker`; for local transports the REF when it is a docker reference with a
 * repository (busybox:1.36, example.com/app:2), else the file or directory name with REF as tag.
 */
export function identityOf(transport: string, name: string): ImageIdentity {
  if (transport === 'docker') {
    const r = parseDockerReference(name);
    if (!r) throw new ImageSourceError('EIMAGE', `'${name}' is not a docker reference`);
    return { ...(r.registry ? { registry: r.registry } : {}), repository: r.repository, ...(r.tag ? { tag: r.tag } : {}) };
  }
  const local = parseLocalReference(name);
  if (!local) throw new ImageSourceError('EIMAGE', `'${name}' is not a ${transport} reference`);
  const ref = local.ref;
  if (ref !== undefined && /[:/]/.test(ref) && !ref.startsWith('@')) {
    const r = parseDockerReference(ref);
    if (r) return { ...(r.registry ? { registry: r.registry } : {}), repository: r.repository, ...(r.tag ? { tag: r.tag } : {}) };
  }
  const base = path.basename(local.path).replace(/\.(tar|oci|docker)(\.tar)?$/i, '') || 'image';
  return { repository: base, ...(ref !== undefined && !ref.startsWith('@') ? { tag: ref } : {}) };
}
