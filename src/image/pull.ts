// Pulling a resolved OCI/Docker image into the store: manifest and config (already checked by
// the source), then every layer. A new image's layers stream from the source into the blob store
// (digest- and size-checked) and, in the same pass, into the extractor, which checks their size
// (their digest only the blob store: one sha256 per layer); the tree is kept only once the blob
// store's checks passed, and a refusal by either side stops the other. Layers
// with a partial download from an earlier attempt are resumed into the blob store first.
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { ImageManifest } from '../schema/aci';
import { splitDigest } from './blobs';
import type { LayerRef, ResolvedImage } from './source';
import { treeKey, type ImageRecord, type Store } from './store';
import type { StartedExtractor } from './render';
import { ensureTree, layersOf, renderInto } from './tree';

export interface PullProgress {
  layer(index: number, total: number, digest: string, size: number): { tick(bytes: number): void; done(): void };
}

export interface PullOptions {
  signer: string;
  toManifest: (src: ResolvedImage) => ImageManifest;
  progress?: PullProgress;
  /** An extractor started early (fetch.ts): used to render the layers as they download, else cancelled. */
  started?: StartedExtractor;
}

function hasPartial(store: Store, layer: LayerRef): boolean {
  const [alg, hex] = splitDigest(layer.digest);
  return fs.existsSync(path.join(store.tmp, `partial-${alg}-${hex}`));
}

async function openTracked(src: ResolvedImage, layer: LayerRef, offset: number, bar?: { tick(n: number): void }): Promise<Readable> {
  const s = await src.openLayer(layer, offset);
  if (bar) s.on('data', (c: Buffer) => bar.tick(c.length));
  return s;
}

/** Downloads missing layers into the blob store, one after another, resuming partial ones. */
async function downloadAll(store: Store, src: ResolvedImage, opts: PullOptions): Promise<void> {
  for (const [i, layer] of src.layers.entries()) {
    if (store.blobs.has(layer.digest, layer.size)) continue;
    const bar = opts.progress?.layer(i, src.layers.length, layer.digest, layer.size);
    await store.blobs.write((offset) => openTracked(src, layer, offset, bar), { digest: layer.digest, size: layer.size, what: `layer ${i + 1} (${layer.digest}) of ${src.name}` });
    bar?.done();
  }
}

/** Downloads and extracts in one pass: each layer is tee'd into the blob store and the extractor. */
async function downloadAndRender(store: Store, src: ResolvedImage, rec: ImageRecord, opts: PullOptions): Promise<void> {
  const feeds = src.layers.map(() => new PassThrough({ highWaterMark: 1 << 20 }).on('error', () => undefined));
  // A layer that downloads now is hashed once, by the blob store, which checks its digest; the
  // extractor's tree is kept only once every such check has passed. A layer already in the
  // store is read from its blob and hashed by the extractor, as when rendering from the store.
  const stored = src.layers.map((l) => store.blobs.has(l.digest, l.size));
  const checks = src.layers.map(() => {
    let settle!: { resolve: () => void; reject: (e: unknown) => void };
    const p = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    p.catch(() => undefined);
    return { p, ...settle };
  });
  const layers = layersOf(store, rec).map((l, i) => ({ ...l, stream: feeds[i]!, ...(stored[i] ? {} : { checked: checks[i]!.p }) }));
  let current: Readable | null = null;
  // The first failure is the cause: the other side's failure follows from being stopped.
  let cause = null as { e: unknown } | null;
  const stop = (e: unknown) => {
    cause ??= { e };
    current?.destroy();
    // The extractor stops reading at once (its answer no longer matters) and its tree is removed.
    feeds.forEach((f) => f.destroy(e as Error));
    checks.forEach((c) => c.reject(e));
  };
  const rendering = renderInto(store, layers, opts.started).catch((e: unknown) => {
    // The extractor refused: stop the download too, its answer is the one to report.
    cause ??= { e };
    current?.destroy();
    feeds.forEach((f) => f.destroy());
    throw e;
  });
  rendering.catch(() => undefined);
  // A layer's blob is made durable and checked (fsync, digest, rename) while the next layer
  // downloads: the connection and the extractor do not wait for the disk.
  const writes: Promise<void>[] = [];
  try {
    for (const [i, layer] of src.layers.entries()) {
      if (cause) break;
      if (stored[i]) {
        await pipeline(fs.createReadStream(store.blobs.path(layer.digest)), feeds[i]!);
        continue;
      }
      const bar = opts.progress?.layer(i, src.layers.length, layer.digest, layer.size);
      const s = await openTracked(src, layer, 0, bar);
      current = s;
      const received = finished(s, { writable: false });
      s.pipe(feeds[i]!);
      writes.push(
        store.blobs.write(s, { digest: layer.digest, size: layer.size, what: `layer ${i + 1} (${layer.digest}) of ${src.name}` }).then(
          () => checks[i]!.resolve(),
          (e: unknown) => stop(e),
        ),
      );
      // A stream that fails fails its blob write too, which says why.
      await received.catch(() => undefined);
      current = null;
      bar?.done();
    }
  } catch (e) {
    stop(e);
  }
  await Promise.all(writes);
  try {
    await rendering;
  } catch (e) {
    throw cause ? cause.e : e;
  }
  if (cause) throw cause.e;
}

export async function pullResolved(store: Store, src: ResolvedImage, opts: PullOptions): Promise<ImageRecord> {
  const what = (x: string) => `${x} of ${src.name}`;
  // Converted first: an image whose config does not convert leaves no blob behind.
  const manifest = opts.toManifest(src);
  // The manifest and config blobs (each an fsync) are written while the layers start to flow.
  const small = Promise.all([
    store.blobs.has(src.manifestDigest) ? null : store.blobs.write(Readable.from([src.manifest]), { digest: src.manifestDigest, size: src.manifest.length, what: what('the manifest') }),
    store.blobs.has(src.configDigest) ? null : store.blobs.write(Readable.from([src.configBytes]), { digest: src.configDigest, size: src.configBytes.length, what: what('the config') }),
  ]);
  small.catch(() => undefined);
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
  const had = new Set(src.layers.filter((l) => store.blobs.has(l.digest)).map((l) => l.digest));
  try {
    if (store.treeMeta(treeKey(rec.layers)) || src.layers.some((l) => hasPartial(store, l))) {
      opts.started?.cancel();
      await downloadAll(store, src, opts);
      await ensureTree(store, rec);
    } else {
      await downloadAndRender(store, src, rec, opts);
    }
    await small;
  } catch (e) {
    await small.catch(() => undefined);
    // A refused image leaves nothing behind: no layer it brought, no manifest, no config.
    const used = new Set(store.all().flatMap((r) => [...r.layers.map((l) => l.digest), r.configDigest, r.id]));
    for (const d of [...src.layers.map((l) => l.digest), src.manifestDigest, src.configDigest]) {
      if (!had.has(d) && !used.has(d)) store.blobs.remove(d);
    }
    throw e;
  }
  store.put(rec);
  return rec;
}
