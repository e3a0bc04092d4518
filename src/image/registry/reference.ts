// docker:// references: [REGISTRY[:PORT]/]NAME[:TAG|@DIGEST], read the way docker reads them
// (distribution/reference): the first path component is a registry only if it has a dot or a
// port, or is localhost; otherwise the image is on Docker Hub, where one-component names live
// under library/. Docker Hub's API is served by registry-1.docker.io.
import { WardError } from '../../schema/errors';

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

export interface DockerReference {
  /** host[:port] as the user means it (docker.io for Docker Hub); credentials are looked up by it. */
  domain: string;
  /** host[:port] the API is served from. */
  apiHost: string;
  /** library/busybox, team/app/web… */
  repository: string;
  tag: string | null;
  digest: string | null;
  /** Canonical form: domain/repository[:tag][@digest]. */
  name: string;
}

const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DOMAIN = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::([0-9]{1,5}))?$`);

function bad(ref: string, why: string): WardError {
  return new WardError('EUSAGE', `docker://${ref.slice(0, 300)}: not a docker image reference: ${why}; write docker://[REGISTRY[:PORT]/]NAME[:TAG|@sha256:DIGEST]`);
}

export function parseDockerReference(ref: string): DockerReference {
  if (ref.length === 0 || ref.length > 1024 || /[\s\x00-\x1f\x7f]/.test(ref)) throw bad(ref, 'empty, too long, or has spaces or control characters');
  let rest = ref.startsWith('//') ? ref.slice(2) : ref;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, `'${digest.slice(0, 80)}' is not sha256:<64 hex> or sha512:<128 hex>`);
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `'${tag.slice(0, 80)}' is not a valid tag`);
  }
  let domain = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      repository = rest.slice(slash + 1);
    }
  }
  const dm = DOMAIN.exec(domain);
  if (!dm || (dm[1] !== undefined && (Number(dm[1]) < 1 || Number(dm[1]) > 65535))) throw bad(ref, `'${domain.slice(0, 80)}' is not a registry host[:port]`);
  domain = domain.toLowerCase();
  if (domain === 'index.docker.io') domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository.length === 0 || repository.length > 255 || !repository.split('/').every((c) => COMPONENT.test(c))) {
    throw bad(ref, `'${repository.slice(0, 80)}' is not a repository name (lower-case letters, digits, and . _ - between them, / between components)`);
  }
  if (tag === null && digest === null) tag = 'latest';
  const name = `${domain}/${repository}${tag !== null ? `:${tag}` : ''}${digest !== null ? `@${digest}` : ''}`;
  return { domain, apiHost: domain === DOCKER_HUB ? DOCKER_HUB_API : domain, repository, tag, digest, name };
}
