// An ACI from a file: into the blob store by its sha512 (the appc image id), rendered once (the
// extractor checks the digest again as it reads), its manifest validated, recorded.
import fs from 'node:fs';
import path from 'node:path';
import { ImageManifest } from '../schema/aci';
import { WardError } from './errors';
import { removeRendered, renderInto } from './tree';
import { treeKey, type ImageRecord, type Store } from './store';

export const ACI_MEDIA_TYPE = 'application/vnd.appc.aci';

/** An ACI already in the blob store (by its sha512 id): rendered once, manifest checked, recorded. */
export async function importAciBlob(store: Store, id: string, what: string, extra: Pick<ImageRecord, 'transport' | 'source' | 'signer'> & Partial<Pick<ImageRecord, 'remote' | 'signature'>>): Promise<ImageRecord> {
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
  };
  store.put(rec);
  return rec;
}

export async function importAciFile(store: Store, file: string, signer: string): Promise<ImageRecord> {
  const key = store.statKey(file);
  const known = store.idForKey(key);
  if (known) {
    const rec = store.get(known);
    if (rec && store.blobs.has(known)) return rec;
  }
  let input: fs.ReadStream;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY);
    input = fs.createReadStream('', { fd, highWaterMark: 1 << 20 });
  } catch (e) {
    throw new WardError('EIMAGE', `cannot open image ${file}: ${(e as NodeJS.ErrnoException).code}; check the path and its permissions`);
  }
  const id = await store.blobs.write(input, { alg: 'sha512', what: `image ${file}` });
  const rec = await importAciBlob(store, id, `image ${file}`, { transport: 'file', source: path.resolve(file), signer });
  store.rememberId(key, id);
  return rec;
}
