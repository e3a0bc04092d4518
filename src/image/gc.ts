// Removing images and collecting garbage in the user's store: rendered trees and blobs no
// record refers to, leftovers in tmp/ from interrupted commands, and (gc only) images not used
// within the grace period, as rkt's image gc. Runs under the store's exclusive lock.
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../schema/errors';
import { removeTree } from './render';
import { treeKey, type ImageRecord, type Store } from './store';
import { removeRendered } from './tree';

export interface GcReport {
  images: string[];
  trees: string[];
  blobs: string[];
  tmp: string[];
}

function referencedBlobs(recs: ImageRecord[]): Set<string> {
  const keep = new Set<string>();
  for (const r of recs) {
    for (const l of r.layers) keep.add(l.digest);
    if (r.configDigest) keep.add(r.configDigest);
    if (r.kind === 'oci') keep.add(r.id);
  }
  return keep;
}

/** Removes what no remaining record refers to. */
async function sweep(store: Store, report: GcReport, tmpGraceMs: number): Promise<void> {
  const recs = store.all();
  const keys = new Set(recs.map((r) => treeKey(r.layers)));
  for (const key of fs.readdirSync(store.trees)) {
    if (keys.has(key)) continue;
    await removeRendered(store, key);
    report.trees.push(key);
  }
  const keep = referencedBlobs(recs);
  for (const digest of store.blobs.list()) {
    if (keep.has(digest)) continue;
    store.blobs.remove(digest);
    report.blobs.push(digest);
  }
  const now = Date.now();
  for (const name of fs.readdirSync(store.tmp)) {
    const p = path.join(store.tmp, name);
    const st = fs.lstatSync(p);
    if (now - st.mtimeMs < tmpGraceMs) continue; // may belong to a command still running
    if (st.isDirectory()) await removeTree(p);
    fs.rmSync(p, { recursive: true, force: true });
    report.tmp.push(name);
  }
}

export async function removeImages(store: Store, refs: string[]): Promise<GcReport> {
  return store.locked('exclusive', async () => {
    const report: GcReport = { images: [], trees: [], blobs: [], tmp: [] };
    for (const ref of refs) {
      const rec = store.find(ref);
      if (!rec) throw new WardError('EUSAGE', `no image '${ref}' in the store; see ward image list`);
      store.remove(rec.id);
      report.images.push(rec.id);
    }
    await sweep(store, report, Number.POSITIVE_INFINITY);
    return report;
  });
}

export async function collectGarbage(store: Store, gracePeriodMs: number): Promise<GcReport> {
  return store.locked('exclusive', async () => {
    const report: GcReport = { images: [], trees: [], blobs: [], tmp: [] };
    const now = Date.now();
    for (const rec of store.all()) {
      if (now - Date.parse(rec.lastUsed) <= gracePeriodMs) continue;
      store.remove(rec.id);
      report.images.push(rec.id);
    }
    await sweep(store, report, Math.min(gracePeriodMs, 60 * 60 * 1000));
    return report;
  });
}

/** Parses rkt-style durations: 30s, 10m, 24h, 1h30m. */
export function parseDuration(text: string): number {
  const re = /(\d+)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (consumed !== text.length || text === '') throw new WardError('EUSAGE', `'${text}' is not a duration; use forms like 30s, 10m, 24h or 1h30m`);
  return total;
}
