// The user's store, as every image command opens it.
import type { Command } from 'commander';
import { WardError } from '../schema/errors';
import { Store, type ImageRecord } from '../image/store';
import { globals } from './globals';

export function storeFor(cmd: Command): Store {
  const store = new Store(globals(cmd).dir);
  store.init();
  return store;
}

/** The image a command names, or a usage error that says where to look. */
export function findImage(store: Store, ref: string): ImageRecord {
  const rec = store.find(ref);
  if (!rec) throw new WardError('EUSAGE', `no image '${ref}' in the store; see ward image list`);
  return rec;
}
