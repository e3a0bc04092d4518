// Getting an image's rendered tree sealed by the helper: the rootfs is handed over as an fd;
// the helper copies it out of our reach and answers with its own digest of what it copied.
import fs from 'node:fs';
import path from 'node:path';
import { ensureTree } from '../image/tree';
import type { ImageRecord, Store } from '../image/store';
import { sealTree } from './client';

export async function sealImage(store: Store, rec: ImageRecord, socketPath: string): Promise<string> {
  const dir = await ensureTree(store, rec);
  const fd = fs.openSync(path.join(dir, 'rootfs'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const tree = await sealTree(socketPath, { name: rec.name, id: rec.id, signer: rec.signer as 'unverified' }, fd);
    store.put({ ...rec, sealed: tree, lastUsed: new Date().toISOString() });
    return tree;
  } finally {
    fs.closeSync(fd);
  }
}
