// Hashing a file's bytes through a bounded buffer (blobs, trees and verification share it).
import type { Hash } from 'node:crypto';
import fs from 'node:fs';

/** Feeds the file at p into hash; returns how many bytes it read. */
export function hashFileInto(hash: Hash, p: string | Buffer): number {
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let total = 0;
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      total += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

export function hashFile(p: string | Buffer, alg: 'sha256' | 'sha512'): string {
  const h = (require('node:crypto') as typeof import('node:crypto')).createHash(alg);
  hashFileInto(h, p);
  return h.digest('hex');
}
