// tar-stream's parser is a streamx stream, which node's pipeline cannot tear down reliably:
// this sink feeds it from a node pipeline, and either side's failure stops the other.
import { Writable } from 'node:stream';
import type tar from 'tar-stream';

export function parserSink(parser: tar.Extract): { sink: Writable; parsed: Promise<void> } {
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      if (parser.write(chunk)) cb();
      else parser.once('drain', () => cb());
    },
    final(cb) {
      (parser as unknown as { end(): void }).end();
      cb();
    },
  });
  const parsed = new Promise<void>((res, rej) => {
    parser.on('finish', () => res());
    parser.on('error', (e: Error) => {
      rej(e);
      sink.destroy(e);
    });
  });
  parsed.catch(() => undefined); // awaited by the caller once its pipeline is done
  return { sink, parsed };
}
