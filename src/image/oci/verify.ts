// Checks every local source applies before it trusts bytes: digest and size against the
// descriptor, strict JSON (duplicate keys would let two parsers see two documents), a schema,
// and a stream that can never yield more (or silently fewer) bytes than a descriptor says.
import crypto from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { z } from 'zod';
import { parseStrictJson, StrictJsonError } from '../../schema/strict-json';
import { ImageSourceError } from '../source';

export function digestOf(bytes: Buffer, alg: 'sha256' | 'sha512' = 'sha256'): string {
  return `${alg}:${crypto.createHash(alg).update(bytes).digest('hex')}`;
}

/** Refuses bytes whose size or digest differ from their descriptor. */
export function checkBlob(bytes: Buffer, desc: { digest: string; size: number }, what: string): void {
  if (bytes.length !== desc.size) {
    throw new ImageSourceError('EIMAGE', `${what}: blob ${desc.digest} has ${bytes.length} bytes, its descriptor says ${desc.size}; the image is corrupt or hostile`);
  }
  const alg = desc.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
  const got = digestOf(bytes, alg);
  if (got !== desc.digest) {
    throw new ImageSourceError('EIMAGE', `${what}: blob ${desc.digest} has digest ${got}; the image is corrupt or hostile`);
  }
}

/** Strict JSON then a zod schema; the error names the document and the first offending field. */
export function parseDoc<T extends z.ZodType>(schema: T, bytes: Buffer, what: string): z.infer<T> {
  return checkDoc(schema, readJson(bytes, what), what);
}

export function readJson(bytes: Buffer, what: string): unknown {
  try {
    return parseStrictJson(bytes, 64);
  } catch (e) {
    const msg = e instanceof StrictJsonError ? e.message.replace(/^frame /, '') : String(e);
    throw new ImageSourceError('EIMAGE', `${what} is not acceptable JSON: ${msg}`);
  }
}

export function checkDoc<T extends z.ZodType>(schema: T, doc: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ImageSourceError('EIMAGE', `${what} is invalid: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`);
  }
  return r.data;
}

/**
 * Passes exactly `expect` bytes: more is refused as soon as it arrives (a blob that grew, or a
 * reader that would overrun its member), fewer is refused at the end (a truncated file).
 */
export function exactBytes(expect: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > expect) return cb(new ImageSourceError('ELIMIT', `${what} has more than the ${expect} bytes its descriptor allows; the image is corrupt or hostile`));
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (seen < expect) return cb(new ImageSourceError('EIMAGE', `${what} ended after ${seen} bytes, its descriptor says ${expect}; the image is truncated`));
      cb();
    },
  });
}

/** `src` through exactBytes; an error of the source reaches the reader instead of stalling it. */
export function exactly(src: Readable, expect: number, what: string): Readable {
  const out = exactBytes(expect, what);
  src.on('error', (e) => out.destroy(e));
  out.on('close', () => src.destroy());
  return src.pipe(out);
}
