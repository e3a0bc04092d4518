// A registry layer whose bytes are a well-formed tar but not the ones its digest names: ward
// fetch streams it into the blob store and the extractor at once, so files are made before the
// last byte arrives; the digest is checked at the end and the fetch must fail with one line and
// keep nothing (no tree, no blob, no record, nothing in tmp/).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestEnv } from '../lib/env';
import { FakeRegistry, fakeImage } from '../lib/fake-registry';
import { compress, tarOf } from '../lib/layers';

/** A tar of `n` files of `size` random bytes each: the same names and sizes give the same length. */
async function randomTar(n: number, size: number): Promise<Buffer> {
  return tarOf(Array.from({ length: n }, (_, i) => ({ name: `data/f${i}`, body: crypto.randomBytes(size) })));
}

describe('a layer that does not hash to its digest', () => {
  const env = new TestEnv('fetch-digest');
  const fake = new FakeRegistry();

  before(async () => {
    await env.start();
    await fake.start();
  });
  after(async () => {
    await fake.stop();
    await env.stop();
  });

  const list = (...p: string[]) => {
    try {
      return fs.readdirSync(path.join(env.storeDir('a'), ...p)).sort();
    } catch {
      return [];
    }
  };

  /** Serves NAME:v1, an image of one layer named by `digest`, whose blob is `bytes` (size: theirs). */
  const serve = (name: string, digest: string, bytes: Buffer) => {
    const img = fakeImage({ layer: bytes });
    const manifest = JSON.parse(img.manifest.toString()) as { layers: { digest: string; size: number }[] };
    manifest.layers[0]!.digest = digest;
    const body = Buffer.from(JSON.stringify(manifest));
    fake.manifests.set(`${name}:v1`, { body, contentType: 'application/vnd.oci.image.manifest.v1+json' });
    fake.blobs.set(img.configDigest, img.config);
    fake.blobs.set(digest, bytes);
  };

  for (const how of ['none', 'gzip'] as const) {
    test(`(${how}) is refused after the extractor has made files, and nothing is kept`, async () => {
      // Several MiB, so the extractor makes files long before the stream ends.
      const good = compress(await randomTar(48, 128 * 1024), how);
      const goodDigest = `sha256:${crypto.createHash('sha256').update(good).digest('hex')}`;
      const bad = compress(await randomTar(48, 128 * 1024), how);
      const name = `evil/${how}`;
      // The registry sends other bytes for the layer's digest, as many as the descriptor says:
      // only the digest can tell.
      serve(name, goodDigest, bad);
      const blobsBefore = list('blobs', 'sha256');
      const ref = `docker://${fake.host}/${name}:v1`;
      const r = await env.ward('a', ['--insecure-options=image,http', 'fetch', ref]);
      assert.equal(r.code, 251, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`^ward: .*has digest sha256:[0-9a-f]{64}, not ${goodDigest}`));
      assert.deepEqual(list('blobs', 'sha256'), blobsBefore, 'no blob of the refused image is kept');
      assert.deepEqual(list('trees'), [], 'no tree is kept');
      assert.deepEqual(list('tmp'), [], 'nothing is left in tmp/');
      const images = JSON.parse((await env.ward('a', ['image', 'list', '--format=json'])).stdout) as { id: string }[];
      assert.deepEqual(images, []);

      // The same image with its true bytes is fetched: the refusal was the digest's.
      serve(name, goodDigest, good);
      const ok = await env.ward('a', ['--insecure-options=image,http', 'fetch', ref]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(list('trees').length, 1);
      assert.equal((await env.ward('a', ['image', 'verify'])).code, 0);
      assert.equal((await env.ward('a', ['image', 'rm', ok.stdout.trim()])).code, 0);
      assert.equal((await env.ward('a', ['image', 'gc', '--grace-period=0s'])).code, 0);
    });
  }
});
