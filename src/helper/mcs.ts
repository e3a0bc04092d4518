// The MCS allocator: a unique category pair c1 < c2 (from c0..c1023) per pod, the level
// "s0:cX,cY" of both its process and its file label. The helper is the single allocator on the
// host, and the state lives on disk, so pairs stay unique across concurrent requests, across
// helper restarts and across helpers started by mistake on the same state dir.
//
// One file per held pair, STATE/mcs/cX,cY, holding the owner pod's uuid. A pair is claimed by
// link(2) of a fully written temp file onto that name: link never replaces an existing name, so
// exactly one claimant wins, and a crash leaves either no claim or a complete one (a stray temp
// file at worst, removed at start). Releasing is unlink. Claims whose pod directory is gone are
// orphans of a crash between removing a pod and releasing its pair; reclaim() frees them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { HelperError } from './errors';

const TMP_PREFIX = '.claim-';

export interface McsOptions {
  /** Categories c0..c(categories-1) are used; 1024 unless a test shrinks the space. */
  categories?: number;
  /** Random probes before falling back to a full scan of the held pairs. */
  probes?: number;
}

export class McsAllocator {
  private readonly categories: number;
  private readonly probes: number;

  constructor(readonly dir: string, opts: McsOptions = {}) {
    this.categories = opts.categories ?? 1024;
    this.probes = opts.probes ?? 32;
    if (!Number.isInteger(this.categories) || this.categories < 2 || this.categories > 1024) throw new Error('MCS categories must be 2..1024');
  }

  /** Creates the directory (root, 0700) and removes stray temp files of claims cut short. */
  init(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(this.dir, 0o700);
    for (const name of fs.readdirSync(this.dir)) {
      if (name.startsWith(TMP_PREFIX)) fs.rmSync(path.join(this.dir, name), { force: true });
    }
  }

  get pairs(): number {
    return (this.categories * (this.categories - 1)) / 2;
  }

  /** Claims a free pair for pod `owner`; returns its level "s0:cX,cY". */
  allocate(owner: string): string {
    if (!/^[0-9a-f-]{1,64}$/.test(owner)) throw new Error(`bad MCS owner '${owner}'`);
    const tmp = path.join(this.dir, `${TMP_PREFIX}${crypto.randomBytes(12).toString('hex')}`);
    fs.writeFileSync(tmp, owner + '\n', { mode: 0o600, flag: 'wx' });
    try {
      for (let i = 0; i < this.probes; i++) {
        const [a, b] = this.randomPair();
        if (this.claim(tmp, a, b)) return level(a, b);
      }
      // The space is crowded: walk it from a random start so the result is still spread out.
      const held = new Set(fs.readdirSync(this.dir));
      const start = crypto.randomInt(this.pairs);
      for (let k = 0; k < this.pairs; k++) {
        const [a, b] = this.pairAt((start + k) % this.pairs);
        if (held.has(fileName(a, b))) continue;
        if (this.claim(tmp, a, b)) return level(a, b);
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    throw new HelperError('ESELINUX', `no free SELinux MCS category pair: all ${this.pairs} are held by pods; stop or remove pods to release theirs`);
  }

  /** Frees a pair, only if `owner` holds it (a stale release never frees another pod's pair). */
  release(lvl: string, owner: string): void {
    const m = /^s0:c(\d+),c(\d+)$/.exec(lvl);
    if (!m) return;
    const file = path.join(this.dir, fileName(Number(m[1]), Number(m[2])));
    let holder: string;
    try {
      holder = fs.readFileSync(file, 'utf8').trim();
    } catch {
      return;
    }
    if (holder === owner) fs.rmSync(file, { force: true });
  }

  /** The level pod `owner` holds, if any. */
  heldBy(owner: string): string | null {
    for (const [name, holder] of this.entries()) if (holder === owner) return levelOfFile(name);
    return null;
  }

  /** Every held pair as [level, owner]. */
  held(): [string, string][] {
    return [...this.entries()].map(([name, holder]) => [levelOfFile(name), holder]);
  }

  /** Frees the pairs whose owner no longer exists (alive(owner) false); returns how many. */
  reclaim(alive: (owner: string) => boolean): number {
    let n = 0;
    for (const [name, holder] of this.entries()) {
      if (!alive(holder)) {
        fs.rmSync(path.join(this.dir, name), { force: true });
        n++;
      }
    }
    return n;
  }

  private *entries(): Generator<[string, string]> {
    for (const name of fs.readdirSync(this.dir)) {
      if (!/^c\d+,c\d+$/.test(name)) continue;
      let holder = '';
      try {
        holder = fs.readFileSync(path.join(this.dir, name), 'utf8').trim();
      } catch {
        continue;
      }
      yield [name, holder];
    }
  }

  private claim(tmp: string, a: number, b: number): boolean {
    try {
      fs.linkSync(tmp, path.join(this.dir, fileName(a, b)));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  }

  private randomPair(): [number, number] {
    return this.pairAt(crypto.randomInt(this.pairs));
  }

  /** The k-th pair in the order (0,1), (0,2), ..., (0,n-1), (1,2), ... */
  private pairAt(k: number): [number, number] {
    const n = this.categories;
    let a = 0;
    let rowLen = n - 1;
    while (k >= rowLen) {
      k -= rowLen;
      a++;
      rowLen--;
    }
    return [a, a + 1 + k];
  }
}

function fileName(a: number, b: number): string {
  return `c${a},c${b}`;
}

function level(a: number, b: number): string {
  return `s0:c${a},c${b}`;
}

function levelOfFile(name: string): string {
  return `s0:${name}`;
}
