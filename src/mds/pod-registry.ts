// The pods the service knows, each found by the secret in its AC_METADATA_URL and answered only
// when the request also comes from one of the pod's registered addresses. Secrets are kept as
// their SHA-256, so a lookup compares digests, never the secret itself byte by byte.
import crypto from 'node:crypto';
import type { AppcPodManifest } from '../schema/appc-pod';
import type { MdsRegistration } from '../schema/mds';

type Annotation = { name: string; value: string };

export interface MdsPod {
  uuid: string;
  manifest: AppcPodManifest;
  /** By app name: the image manifest's text and its app's merged annotations. */
  apps: Map<string, { imageManifest: string; imageId: string; annotations: Annotation[] }>;
  addresses: Set<string>;
}

export type RegisterResult = 'registered' | 'uuid-taken' | 'secret-taken';

function secretKey(secret: string): string {
  return crypto.createHash('sha256').update(secret).digest('hex');
}

/** node reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address.toLowerCase();
}

/** Image annotations, then the pod manifest's annotations for the app over them (appc ace.md). */
function mergeAnnotations(image: Annotation[], pod: Annotation[]): Annotation[] {
  const merged = new Map<string, string>();
  for (const a of image) merged.set(a.name, a.value);
  for (const a of pod) merged.set(a.name, a.value);
  return [...merged].map(([name, value]) => ({ name, value }));
}

export class PodRegistry {
  private readonly bySecret = new Map<string, MdsPod>();
  private readonly secretOf = new Map<string, string>();

  register(reg: MdsRegistration): RegisterResult {
    if (this.secretOf.has(reg.uuid)) return 'uuid-taken';
    const key = secretKey(reg.secret);
    if (this.bySecret.has(key)) return 'secret-taken';
    const apps = new Map<string, { imageManifest: string; imageId: string; annotations: Annotation[] }>();
    for (const app of reg.apps) {
      const inPod = reg.manifest.apps.find((a) => a.name === app.name)!;
      apps.set(app.name, { imageManifest: app.image.manifest, imageId: inPod.image.id, annotations: mergeAnnotations(app.image.annotations, inPod.annotations ?? []) });
    }
    this.bySecret.set(key, { uuid: reg.uuid, manifest: reg.manifest, apps, addresses: new Set(reg.addresses.map(normalizeAddress)) });
    this.secretOf.set(reg.uuid, key);
    return 'registered';
  }

  unregister(uuid: string): boolean {
    const key = this.secretOf.get(uuid);
    if (key === undefined) return false;
    this.secretOf.delete(uuid);
    this.bySecret.delete(key);
    return true;
  }

  /** The pod this request is from, or null: an unknown secret and a wrong address look the same. */
  identify(secret: string, remoteAddress: string | undefined): MdsPod | null {
    if (!remoteAddress) return null;
    const pod = this.bySecret.get(secretKey(secret));
    if (!pod || !pod.addresses.has(normalizeAddress(remoteAddress))) return null;
    return pod;
  }

  get size(): number {
    return this.secretOf.size;
  }
}
