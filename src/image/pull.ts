// Pulling a resolved OCI/Docker image into the store: manifest and config (already checked by
// the source) and every layer not already present, each digest- and size-checked as it streams
// into the blob store, resuming a partial download of the same digest. Then rendered, so a
// hostile layer is refused at fetch time, and recorded.
import { Readable } from 'node:stream';
import type { ImageManifest } from '../schema/aci';
import type { ResolvedImage } from './source';
import type { ImageRecord, Store } from './store';
import { ensureTree } from './tree';

export interface PullProgress {
  layer(index: number, total: number, digest: string, size: number): { tick(bytes: number): void; done(): void };
}

export interface PullOptions {
  signer: string;
  toManifest: (src: ResolvedImage) => ImageManifest;
  progress?: PullProgress;
}

export async function pullResolved(store: Store, src: ResolvedImage, opts: PullOptions): Promise<ImageRecord> {
  const what = (x: string) => `${x} of ${src.name}`;
  if (!store.blobs.has(src.manifestDigest)) await store.blobs.write(Readable.from([src.manifest]), { digest: src.manifestDigest, size: src.manifest.length, what: what('the manifest') });
  if (!store.blobs.has(src.configDigest)) await store.blobs.write(Readable.from([src.configBytes]), { digest: src.configDigest, size: src.configBytes.length, what: what('the config') });
  const manifest = opts.toManifest(src);
  for (const [i, layer] of src.layers.entries()) {
    if (store.blobs.has(layer.digest, layer.size)) continue;
    const bar = opts.progress?.layer(i, src.layers.length, layer.digest, layer.size);
    await store.blobs.write(
      async (offset) => {
        const s = await src.openLayer(layer, offset);
        if (bar) s.on('data', (c: Buffer) => bar.tick(c.length));
        return s;
      },
      { digest: layer.digest, size: layer.size, what: what(`layer ${i + 1} (${layer.digest})`) },
    );
    bar?.done();
  }
  const now = new Date().toISOString();
  const existing = store.get(src.manifestDigest);
  const rec: ImageRecord = {
    id: src.manifestDigest,
    name: src.name,
    kind: 'oci',
    transport: src.transport,
    source: src.name,
    manifest,
    layers: src.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    configDigest: src.configDigest,
    signer: opts.signer,
    importedAt: existing?.importedAt ?? now,
    lastUsed: now,
  };
  await ensureTree(store, rec);
  store.put(rec);
  return rec;
}
