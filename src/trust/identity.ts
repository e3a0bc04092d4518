// signedIdentity: does the identity a signature claims (critical.identity.docker-reference) fit
// the image being pulled? References are compared in docker's normalized form (busybox:latest is
// docker.io/library/busybox:latest), as containers-policy.json(5) says.
import type { SignedIdentity } from '../schema/signature-policy';
import { parseDockerReference } from '../image/registry/reference';
import { dockerIdentity, type DockerName } from './scopes';

/** A docker reference normalized, without the ":latest" a pull would add; null if malformed. */
export function normalizeReference(text: string): DockerName | null {
  if (text.startsWith('//') || text.startsWith('docker://')) return null;
  let r;
  try {
    r = parseDockerReference(text);
  } catch {
    return null;
  }
  const noDigest = text.split('@')[0]!;
  const explicitTag = noDigest.lastIndexOf(':') > noDigest.lastIndexOf('/');
  return { domain: r.domain, repository: r.repository, tag: explicitTag ? r.tag : null, digest: r.digest };
}

const repoOf = (r: DockerName) => `${r.domain}/${r.repository}`;

/**
 * null when the claimed identity is accepted, else why not. `image` is the reference pulled
 * (a tag, a digest, or both).
 */
export function identityMismatch(rule: SignedIdentity | undefined, image: DockerName, claimedText: string): string | null {
  const claimed = normalizeReference(claimedText);
  if (!claimed) return `the signature claims '${claimedText.slice(0, 200)}', which is not a docker reference`;
  const type = rule?.type ?? 'matchRepoDigestOrExact';
  const shown = `the signature claims ${dockerIdentity(claimed)}`;
  switch (rule?.type ?? 'matchRepoDigestOrExact') {
    case 'matchExact':
      return dockerIdentity(claimed) === dockerIdentity(image) ? null : `${shown}, not ${dockerIdentity(image)} (${type})`;
    case 'matchRepoDigestOrExact':
      if (image.tag === null && image.digest !== null) return repoOf(claimed) === repoOf(image) ? null : `${shown}, not the repository ${repoOf(image)} (${type})`;
      return dockerIdentity(claimed) === dockerIdentity(image) ? null : `${shown}, not ${dockerIdentity(image)} (${type})`;
    case 'matchRepository':
      return repoOf(claimed) === repoOf(image) ? null : `${shown}, not the repository ${repoOf(image)} (${type})`;
    case 'exactReference': {
      const want = normalizeReference((rule as { dockerReference: string }).dockerReference);
      return want && dockerIdentity(claimed) === dockerIdentity(want) ? null : `${shown}, not ${(rule as { dockerReference: string }).dockerReference} (${type})`;
    }
    case 'exactRepository': {
      const want = normalizeReference((rule as { dockerRepository: string }).dockerRepository);
      return want && repoOf(claimed) === repoOf(want) ? null : `${shown}, not the repository ${(rule as { dockerRepository: string }).dockerRepository} (${type})`;
    }
  }
}
