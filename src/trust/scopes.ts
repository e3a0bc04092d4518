// Which policy scopes name an image, most specific first (containers-policy.json(5)): for
// docker, the full reference, then the repository, each parent namespace, the host[:port], and
// *.domain wildcards of the host without its port; for oci and oci-archive, the path with its
// reference, the path, then each parent directory up to (not including) "/". The transport's
// "" scope and the global default come after these.
import path from 'node:path';

export interface DockerName {
  /** host[:port] */
  domain: string;
  /** ns/.../repo */
  repository: string;
  tag: string | null;
  digest: string | null;
}

export function dockerIdentity(r: DockerName): string {
  return `${r.domain}/${r.repository}${r.tag !== null ? `:${r.tag}` : ''}${r.digest !== null ? `@${r.digest}` : ''}`;
}

export function dockerScopes(r: DockerName): string[] {
  const out = [dockerIdentity(r)];
  // A reference with both a tag and a digest is also matched by the tag alone (as containers).
  if (r.tag !== null && r.digest !== null) out.push(`${r.domain}/${r.repository}:${r.tag}`);
  let name = `${r.domain}/${r.repository}`;
  for (;;) {
    out.push(name);
    const slash = name.lastIndexOf('/');
    if (slash < 0) break;
    name = name.slice(0, slash);
  }
  let host = r.domain.startsWith('[') ? '' : r.domain.replace(/:[0-9]+$/, '');
  for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.')) {
    host = host.slice(dot + 1);
    out.push(`*.${host}`);
  }
  return out;
}

/** oci:DIR[:REF] and oci-archive:FILE[:REF]: `abs` is already absolute and resolved. */
export function pathScopes(abs: string, ref?: string): string[] {
  const out = ref !== undefined ? [`${abs}:${ref}`] : [];
  for (let p = abs; p !== '/' && p !== '.'; p = path.dirname(p)) out.push(p);
  return out;
}

/** The first scope of `candidates` that `scopes` defines. */
export function mostSpecific<T>(scopes: Record<string, T> | undefined, candidates: string[]): { scope: string; value: T } | null {
  if (!scopes) return null;
  for (const c of [...candidates, '']) {
    if (Object.prototype.hasOwnProperty.call(scopes, c)) return { scope: c, value: scopes[c]! };
  }
  return null;
}
