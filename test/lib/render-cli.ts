// Test helper run as an unprivileged test user: renders the given layer files into a store with
// ward's own code and prints the outcome as one JSON line.
import { Store } from '../../src/image/store';
import { renderInto } from '../../src/image/tree';
import type { RenderLayer } from '../../src/image/render';

async function main(): Promise<void> {
  const [storeDir, layersJson] = process.argv.slice(2);
  const store = new Store(storeDir!);
  store.init();
  try {
    const r = await renderInto(store, JSON.parse(layersJson!) as RenderLayer[]);
    process.stdout.write(JSON.stringify({ dir: r.dir, key: r.key, answer: r.answer }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
  }
}

void main();
