// The pod identity endpoint (appc ace.md "Identity Endpoint"): HMAC-SHA512 under a key that lives
// only in this process, random at start, over the pod's 16 UUID bytes then the content (as rkt
// signs), so a signature names the pod that asked for it and nothing outlives the service.
import crypto from 'node:crypto';

const SIGNATURE_BYTES = 64;

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export class PodSigner {
  private readonly key = crypto.randomBytes(64);

  private mac(uuid: string, content: string): Buffer {
    return crypto.createHmac('sha512', this.key).update(uuidBytes(uuid)).update(content, 'utf8').digest();
  }

  /** base64 (standard alphabet, padded) of the HMAC, as the spec's sign answers. */
  sign(uuid: string, content: string): string {
    return this.mac(uuid, content).toString('base64');
  }

  /** Whether signature (base64) is this service's HMAC of content for the pod uuid. */
  verify(uuid: string, content: string, signature: string): boolean {
    // Canonical padded base64 of exactly 64 bytes: Buffer.from would skip stray characters.
    if (!/^[A-Za-z0-9+/]{86}==$/.test(signature)) return false;
    const given = Buffer.from(signature, 'base64');
    if (given.length !== SIGNATURE_BYTES) return false;
    return crypto.timingSafeEqual(given, this.mac(uuid, content));
  }
}
