// Getting an image's rendered tree sealed by the helper: the rootfs is handed over as an fd;
// the helper copies it out of our reach and answers with its own digest of what it copied.
import fs from 'node:fs';
import path from 'node:path';
import { ensureTree } from '../image/tree';
import type { ImageRecord, Store } from '../image/store';
import { sealTree } from './client';
import { WardError } from '../schema/errors';

export async function sealImage(store: Store, rec: ImageRecord, socketPath: string): Promise<string> {
  const { dir, meta } = await ensureTree(store, rec);
  const fd = fs.openSync(path.join(dir, 'rootfs'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const tree = await sealTree(socketPath, { name: rec.name, id: rec.id, signer: rec.signer as 'unverified' }, fd);
    // The helper digests what it copied; it must be what was rendered and checked.
    if (tree !== meta.treeDigest) {
      throw new WardError('EIMAGE', `the rendered tree of ${rec.name} changed after it was rendered (sealed ${tree}, rendered ${meta.treeDigest}); run ward image verify, then ward image rm and fetch it again`);
    }
    store.put({ ...rec, sealed: tree, lastUsed: new Date().toISOString() });
    return tree;
  } finally {
    fs.closeSync(fd);
  }
}
