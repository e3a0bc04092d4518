// The user's store, as every image command opens it.
import type { Command } from 'commander';
import { Store } from '../image/store';
import { globals } from './globals';

export function storeFor(cmd: Command): Store {
  const store = new Store(globals(cmd).dir);
  store.init();
  return store;
}
