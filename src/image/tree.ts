// Rendered trees in the user's store: made once per ordered layer list, by the extractor in the
// caller's user namespace; concurrent renders of the same key race harmlessly (first rename wins).
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../schema/errors';
import type { RenderAnswer } from './extract-child';
import { removeTree, renderLayers, type RenderLayer, type StartedExtractor } from './render';
import { treeKey, writeAtomic, type ImageRecord, type Store, type TreeMeta } from './store';

export function layersOf(store: Store, rec: ImageRecord): RenderLayer[] {
  return rec.layers.map((l, i) => ({
    file: store.blobs.path(l.digest),
    kind: rec.kind,
    digest: l.digest,
    size: l.size,
    name: `${rec.name} layer ${i + 1} (${l.digest.slice(0, 19)})`,
  }));
}

/** Renders layers into trees/<key> unless already there; returns the tree dir and the extractor's answer. */
/** started: an extractor started early in a staging dir of this store (pull.ts), used or cancelled here. */
export async function renderInto(store: Store, layers: RenderLayer[], started?: StartedExtractor): Promise<{ dir: string; key: string; answer: RenderAnswer | null }> {
  const key = treeKey(layers);
  const dir = store.treeDir(key);
  if (store.treeMeta(key)) {
    started?.cancel();
    return { dir, key, answer: null };
  }
  const staging = started?.stagingDir ?? store.stagingDir();
  let rendered;
  try {
    rendered = await renderLayers(staging, layers, {}, started);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  await rendered.keep();
  const meta: TreeMeta = { key, treeDigest: rendered.answer.tree, layers: layers.map((l) => l.digest), renderedAt: new Date().toISOString(), entries: rendered.answer.entries, bytes: rendered.answer.bytes };
  writeAtomic(path.join(staging, 'meta.json'), JSON.stringify(meta));
  fs.chmodSync(staging, 0o700);
  try {
    fs.renameSync(staging, dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    await removeTree(staging); // another render of the same layers won the race
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return { dir, key, answer: rendered.answer };
}

export async function ensureTree(store: Store, rec: ImageRecord): Promise<{ dir: string; meta: TreeMeta }> {
  const { dir, key } = await renderInto(store, layersOf(store, rec));
  const meta = store.treeMeta(key);
  if (!meta) throw new WardError('EINTERNAL', `rendered tree ${dir} has no meta.json; run ward image gc and fetch again`);
  return { dir, meta };
}

/** Removes a rendered tree (its rootfs belongs to the subordinate range). */
export async function removeRendered(store: Store, key: string): Promise<void> {
  const dir = store.treeDir(key);
  if (!fs.existsSync(dir)) return;
  await removeTree(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  if (fs.existsSync(dir)) throw new WardError('EINTERNAL', `cannot remove rendered tree ${dir}`);
}
