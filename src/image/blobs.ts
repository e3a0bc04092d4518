// Content-addressed blobs in the user's store: blobs/<alg>/<hex>. A blob is written to a temp
// file while its digest is computed and renamed into place only when digest and size match, so
// a kill -9 at any point leaves either no blob or a whole, verified one. Two writers of the same
// blob race harmlessly: the rename is atomic and the contents are identical.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { WardError } from '../schema/errors';
import { hashFileInto } from './hash-file';

/** node:crypto on first use: ward run of a stored image writes no blob and should not load it. */
const crypto = () => require('node:crypto') as typeof import('node:crypto');

/** Normalises appc ids (sha512-hex) and OCI digests (sha256:hex) to [alg, hex]. */
export function splitDigest(digest: string): ['sha256' | 'sha512', string] {
  const m = /^(sha256|sha512)[:-]([0-9a-f]+)$/.exec(digest);
  if (!m || m[2]!.length !== (m[1] === 'sha256' ? 64 : 128)) throw new WardError('EIMAGE', `'${digest}' is not a sha256 or sha512 digest`);
  return [m[1] as 'sha256' | 'sha512', m[2]!];
}

export class BlobStore {
  constructor(readonly root: string, private readonly tmp: string) {}

  init(): void {
    for (const alg of ['sha256', 'sha512']) fs.mkdirSync(path.join(this.root, alg), { recursive: true, mode: 0o700 });
  }

  path(digest: string): string {
    const [alg, hex] = splitDigest(digest);
    return path.join(this.root, alg, hex);
  }

  has(digest: string, size?: number): boolean {
    try {
      const st = fs.statSync(this.path(digest));
      return st.isFile() && (size === undefined || st.size === size);
    } catch {
      return false;
    }
  }

  /** Bytes of a small blob (manifests, configs), size-bounded. */
  read(digest: string, max: number): Buffer {
    const p = this.path(digest);
    const st = fs.statSync(p);
    if (st.size > max) throw new WardError('EIMAGE', `blob ${digest} is ${st.size} bytes, more than ${max}`);
    return fs.readFileSync(p);
  }

  /**
   * Streams src into the store, checking digest (and size when known). Returns the digest
   * computed; an expected digest that differs is an error and nothing is kept. `resumeFrom`
   * continues a partial download kept from an earlier attempt.
   */
  async write(
    src: Readable | ((offset: number) => Promise<Readable | { stream: Readable; from: number }>),
    expect: { digest?: string; alg?: 'sha256' | 'sha512'; size?: number | null; what: string; partialKey?: string },
  ): Promise<string> {
    const alg = expect.digest ? splitDigest(expect.digest)[0] : (expect.alg ?? 'sha256');
    // A partial download is kept under a name the next attempt finds: the digest it must have,
    // or the caller's key (a URL's hash) when the digest is not known in advance.
    const partialName = expect.digest ? `partial-${alg}-${splitDigest(expect.digest)[1]}` : expect.partialKey ? `partial-key-${expect.partialKey}` : null;
    const partial = partialName ? path.join(this.tmp, partialName) : null;
    const tmp = partial ?? path.join(this.tmp, `blob-${crypto().randomBytes(8).toString('hex')}`);
    let hash = crypto().createHash(alg);
    let offset = 0;
    // A partial download of the same digest is resumed: its bytes are hashed again first.
    if (partial && typeof src === 'function' && fs.existsSync(partial)) offset = hashFileInto(hash, partial);
    let input: Readable;
    if (typeof src === 'function') {
      const opened = await src(offset);
      if ('stream' in opened && typeof (opened as { from?: unknown }).from === 'number') {
        input = opened.stream;
        // The source could not resume: start again from the first byte.
        if (opened.from === 0 && offset > 0) {
          offset = 0;
          hash = crypto().createHash(alg);
        }
      } else input = opened as Readable;
    } else input = src;
    const fd = fs.openSync(tmp, offset > 0 ? 'a' : 'w', 0o600);
    let size = offset;
    try {
      // Streams load only when a blob is written: ward run of a stored image never writes one.
      const { Writable } = require('node:stream') as typeof import('node:stream');
      const { pipeline } = require('node:stream/promises') as typeof import('node:stream/promises');
      await pipeline(
        input,
        new Writable({
          write(chunk: Buffer, _e, cb) {
            size += chunk.length;
            if (expect.size != null && size > expect.size) return cb(new WardError('EIMAGE', `${expect.what} is longer than the ${expect.size} bytes its descriptor says`));
            hash.update(chunk);
            try {
              fs.writeSync(fd, chunk);
              cb();
            } catch (e) {
              cb(e as Error);
            }
          },
        }),
      );
      // On the thread pool: a fetch keeps feeding the extractor (and starts the next layer)
      // while the blob goes to disk.
      await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
    } catch (e) {
      fs.closeSync(fd);
      // A partial download that failed on the network is kept for resuming; a bad one is not.
      const network = !(e instanceof WardError) || e.code === 'ENETWORK';
      if (!partial || !network) fs.rmSync(tmp, { force: true });
      throw e;
    }
    fs.closeSync(fd);
    const got = alg === 'sha512' ? `sha512-${hash.digest('hex')}` : `sha256:${hash.digest('hex')}`;
    if (expect.size != null && size !== expect.size) {
      fs.rmSync(tmp, { force: true });
      throw new WardError('EIMAGE', `${expect.what} has ${size} bytes, its descriptor says ${expect.size}; the source is corrupt or hostile`);
    }
    if (expect.digest && splitDigest(expect.digest)[1] !== splitDigest(got)[1]) {
      fs.rmSync(tmp, { force: true });
      throw new WardError('EIMAGE', `${expect.what} has digest ${got}, not ${expect.digest}; the source is corrupt or hostile`);
    }
    fs.renameSync(tmp, this.path(got));
    return got;
  }

  remove(digest: string): void {
    fs.rmSync(this.path(digest), { force: true });
  }

  /** Every blob digest in the store. */
  list(): string[] {
    const out: string[] = [];
    for (const alg of ['sha256', 'sha512'] as const) {
      let names: string[] = [];
      try {
        names = fs.readdirSync(path.join(this.root, alg));
      } catch {
        continue;
      }
      for (const hex of names) out.push(alg === 'sha256' ? `sha256:${hex}` : `sha512-${hex}`);
    }
    return out;
  }
}
