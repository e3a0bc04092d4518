// An ACI from a file: into the blob store by its sha512 (the appc image id), rendered once (the
// extractor checks the digest again as it reads), its manifest validated, recorded. Unless
// --insecure-options=image, its detached signature (FILE.asc) is checked first: the signing key
// is picked and checked before the ACI is read, the bytes stream once through the blob store's
// hash and the signature's, and nothing is rendered before both agree.
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ImageManifest } from '../schema/aci';
import type { PreparedVerify, Verdict } from '../trust/aci-verify';
import type { ConfigDirs } from '../trust/dirs';
import { WardError } from '../schema/errors';
import { removeRendered, renderInto } from './tree';
import { treeKey, type ImageRecord, type Store } from './store';

export const ACI_MEDIA_TYPE = 'application/vnd.appc.aci';

/** How an ACI is checked: null = --insecure-options=image (recorded as "unverified"). */
export type AciTrust = { dirs: ConfigDirs } | null;

export function noSignature(what: string, where: string): WardError {
  return new WardError('ESIGNATURE', `${what} cannot be verified: no signature at ${where}; sign it (gpg --armor --detach-sign) and trust the key with ward trust, or pass --insecure-options=image`);
}

/** Whether a stored record satisfies this fetch (an unverified one does not when verifying). */
export function recordServes(rec: ImageRecord, trust: AciTrust): boolean {
  return trust === null || rec.signer !== 'unverified';
}

/**
 * Streams src into the blob store and through the verifier at once. A refused image leaves no
 * blob (unless a record already holds it).
 */
export async function writeVerified(store: Store, src: Readable, prepared: PreparedVerify, what: string): Promise<{ id: string; verdict: Verdict }> {
  const { verifyAciStream } = await import('../trust/aci-verify');
  const toStore = new PassThrough({ highWaterMark: 1 << 20 });
  const toVerify = new PassThrough({ highWaterMark: 1 << 20 });
  const stop = (e: Error) => {
    src.destroy(e);
    toStore.destroy(e);
    toVerify.destroy(e);
  };
  src.on('error', stop);
  src.pipe(toStore);
  src.pipe(toVerify);
  let id: string | null = null;
  const writing = store.blobs.write(toStore, { alg: 'sha512', what }).then((d) => (id = d)).catch((e: Error) => { stop(e); throw e; });
  try {
    const [written, verdict] = await Promise.all([
      writing,
      verifyAciStream(prepared, Readable.toWeb(toVerify) as ReadableStream<Uint8Array>).catch((e: Error) => { stop(e); throw e; }),
    ]);
    return { id: written, verdict };
  } catch (e) {
    // Both must settle before the blob's fate is known: a blob whose bytes had all arrived may
    // still be on its way to disk (fsync, rename) when the verifier refuses.
    await writing.catch(() => undefined);
    if (id !== null && !store.get(id)) store.blobs.remove(id);
    throw e;
  }
}

/** Verifies a blob already in the store (downloads that resumed); removes it when refused. */
export async function verifyBlob(store: Store, id: string, prepared: PreparedVerify): Promise<Verdict> {
  const { verifyAciStream } = await import('../trust/aci-verify');
  try {
    return await verifyAciStream(prepared, Readable.toWeb(fs.createReadStream(store.blobs.path(id), { highWaterMark: 1 << 20 })) as ReadableStream<Uint8Array>);
  } catch (e) {
    if (!store.get(id)) store.blobs.remove(id);
    throw e;
  }
}

/** An ACI already in the blob store (by its sha512 id): rendered once, manifest checked, recorded. */
export async function importAciBlob(
  store: Store,
  id: string,
  what: string,
  extra: Pick<ImageRecord, 'transport' | 'source' | 'signer'> & Partial<Pick<ImageRecord, 'remote' | 'signature'>>,
  verdict: Verdict | null = null,
): Promise<ImageRecord> {
  const size = fs.statSync(store.blobs.path(id)).size;
  const layers = [{ file: store.blobs.path(id), kind: 'aci' as const, digest: id, size, name: what }];
  const existing = store.get(id);
  let answer;
  try {
    ({ answer } = await renderInto(store, layers));
  } catch (e) {
    if (!existing) store.blobs.remove(id); // a refused image leaves nothing behind
    throw e;
  }
  let manifest: ImageManifest;
  if (answer === null) {
    if (!existing) throw new WardError('EINTERNAL', `image ${id} is rendered but has no record; run ward image gc`);
    manifest = existing.manifest;
  } else {
    try {
      const parsed = ImageManifest.safeParse(JSON.parse(Buffer.from(answer.manifest ?? '', 'base64').toString('utf8')));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
      }
      manifest = parsed.data;
    } catch (e) {
      await removeRendered(store, treeKey(layers));
      store.blobs.remove(id);
      throw new WardError('EIMAGE', `${what} has an invalid manifest: ${(e as Error).message}; fix the image's manifest`);
    }
  }
  if (verdict) {
    // The name is inside the signed bytes: the signer must be trusted for it (whole segments).
    const { authorizeName } = await import('../trust/aci-verify');
    try {
      authorizeName(verdict, manifest.name, what);
    } catch (e) {
      if (!existing) {
        await removeRendered(store, treeKey(layers));
        store.blobs.remove(id);
      }
      throw e;
    }
  }
  const now = new Date().toISOString();
  const rec: ImageRecord = {
    id,
    name: manifest.name,
    kind: 'aci',
    manifest,
    layers: [{ digest: id, size, mediaType: ACI_MEDIA_TYPE }],
    importedAt: existing?.importedAt ?? now,
    lastUsed: now,
    ...(existing?.sealed ? { sealed: existing.sealed } : {}),
    ...extra,
    ...(verdict ? { trustPolicy: verdict.policy } : {}),
    // A verdict once reached is kept when the same bytes come again unverified.
    ...(extra.signer === 'unverified' && existing && existing.signer !== 'unverified' ? { signer: existing.signer, ...(existing.signature ? { signature: existing.signature } : {}), ...(existing.trustPolicy ? { trustPolicy: existing.trustPolicy } : {}) } : {}),
  };
  store.put(rec);
  return rec;
}

/** Longer than any detached signature: the verifier refuses what reaches it. */
const MAX_SIGNATURE_READ = (1 << 20) + 1;

/** The detached signature beside an ACI file (FILE.asc, as rkt), at most MAX_SIGNATURE_READ bytes, or null. */
function readSignatureFile(file: string): Buffer | null {
  try {
    // O_NONBLOCK: a fifo put in its place must not hang the fetch (it is then refused as no file).
    const fd = fs.openSync(`${file}.asc`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFile()) return null;
      const buf = Buffer.alloc(MAX_SIGNATURE_READ);
      let n = 0;
      for (let got = 1; got > 0 && n < buf.length; n += got) got = fs.readSync(fd, buf, n, buf.length - n, null);
      return buf.subarray(0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

export async function importAciFile(store: Store, file: string, trust: AciTrust): Promise<ImageRecord> {
  const what = `image ${file}`;
  const key = store.statKey(file);
  const known = store.idForKey(key);
  if (known) {
    const rec = store.get(known);
    if (rec && store.blobs.has(known) && recordServes(rec, trust)) return rec;
  }
  let prepared: PreparedVerify | null = null;
  let sig: Buffer | null = null;
  if (trust) {
    // Signature and key are settled before a byte of the ACI is read.
    sig = readSignatureFile(file);
    if (!sig) throw noSignature(what, `${file}.asc`);
    const { prepareAciVerify } = await import('../trust/aci-verify');
    prepared = await prepareAciVerify(trust.dirs, sig, what);
  }
  let input: fs.ReadStream;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY);
    input = fs.createReadStream('', { fd, highWaterMark: 1 << 20 });
  } catch (e) {
    throw new WardError('EIMAGE', `cannot open image ${file}: ${(e as NodeJS.ErrnoException).code}; check the path and its permissions`);
  }
  let id: string;
  let verdict: Verdict | null = null;
  if (prepared) ({ id, verdict } = await writeVerified(store, input, prepared, what));
  else id = await store.blobs.write(input, { alg: 'sha512', what });
  const signature = sig ? await store.blobs.write(Readable.from([sig]), { alg: 'sha256', what: `the signature of ${what}` }) : undefined;
  const rec = await importAciBlob(store, id, what, { transport: 'file', source: path.resolve(file), signer: verdict?.signer ?? 'unverified', ...(signature ? { signature } : {}) }, verdict);
  store.rememberId(key, id);
  return rec;
}
