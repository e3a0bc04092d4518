// The user's store (--dir, default ~/.local/share/ward):
//   blobs/<alg>/<hex>   verified content (ACIs by sha512 as appc ids are, OCI blobs by sha256)
//   images/<id>.json    one record per image: name, appc manifest, layers, where it came from
//   trees/<key>/        rendered trees (rootfs/ owned by the subordinate range, meta.json),
//                       keyed by the digest of the ordered layer list
//   tmp/                staging; ids/ remembered file digests
// Every write is a temp file or dir renamed into place, so a kill -9 at any point leaves a store
// the next command can use; leftovers in tmp/ are garbage for `ward image gc`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addon } from '../native/addon';
import type { ImageManifest } from '../schema/aci';
import { BlobStore } from './blobs';
import { WardError } from '../schema/errors';

export interface LayerRecord {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ImageRecord {
  /** sha512-<hex> of the ACI, or the sha256:<hex> of an OCI/Docker manifest. */
  id: string;
  name: string;
  kind: 'aci' | 'oci';
  transport: 'file' | 'http' | 'docker' | 'oci' | 'oci-archive' | 'docker-archive';
  source: string;
  manifest: ImageManifest;
  layers: LayerRecord[];
  configDigest?: string;
  /** "unverified" or the accepted signer's fingerprint. */
  signer: string;
  /** sha256: digest of the trust configuration the verdict was reached under (see src/trust/policy-digest.ts). */
  trustPolicy?: string;
  importedAt: string;
  lastUsed: string;
  /** HTTP caching of the source (ETag, max-age) for --pull-policy=update. */
  remote?: { url: string; etag?: string; maxAge?: number; fetchedAt: string };
  /** The helper's digest of the sealed tree, once sealed. */
  sealed?: string;
  /** The detached signature fetched with the image (blob digest), for verification. */
  signature?: string;
}

export interface TreeMeta {
  key: string;
  /** The tree digest (format v1) computed while rendering; the helper's seal must match it. */
  treeDigest: string;
  layers: string[];
  renderedAt: string;
  entries: number;
  bytes: number;
}

export function defaultStoreDir(): string {
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'ward');
}

const ID_RE = /^(sha512-[0-9a-f]{128}|sha256:[0-9a-f]{64})$/;

export function treeKey(layers: readonly { digest: string }[]): string {
  return addon().sha256Hex(`ward-render-v1\n${layers.map((l) => l.digest).join('\n')}`);
}

export class Store {
  readonly images: string;
  readonly trees: string;
  readonly tmp: string;
  readonly blobs: BlobStore;

  constructor(readonly root: string) {
    this.images = path.join(root, 'images');
    this.trees = path.join(root, 'trees');
    this.tmp = path.join(root, 'tmp');
    this.blobs = new BlobStore(path.join(root, 'blobs'), this.tmp);
  }

  init(): void {
    for (const d of [this.root, this.images, this.trees, this.tmp]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    this.blobs.init();
  }

  private recordPath(id: string): string {
    if (!ID_RE.test(id)) throw new WardError('EUSAGE', `'${id}' is not an image id (sha512-… or sha256:…)`);
    return path.join(this.images, `${id.replace(':', '-')}.json`);
  }

  get(id: string): ImageRecord | null {
    try {
      return JSON.parse(fs.readFileSync(this.recordPath(id), 'utf8')) as ImageRecord;
    } catch {
      return null;
    }
  }

  put(rec: ImageRecord): void {
    writeAtomic(this.recordPath(rec.id), JSON.stringify(rec, null, 1));
  }

  remove(id: string): void {
    fs.rmSync(this.recordPath(id), { force: true });
  }

  all(): ImageRecord[] {
    const out: ImageRecord[] = [];
    for (const f of fs.readdirSync(this.images)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(fs.readFileSync(path.join(this.images, f), 'utf8')) as ImageRecord);
      } catch {
        /* a record being replaced; the next listing sees it */
      }
    }
    return out;
  }

  /**
   * Finds an image by id, by an unambiguous id prefix (as rkt: sha512-0123abcd), or by name
   * (the newest import wins).
   */
  find(ref: string): ImageRecord | null {
    if (ID_RE.test(ref)) return this.get(ref);
    const all = this.all();
    if (/^(sha512-|sha256:)[0-9a-f]{8,}$/.test(ref)) {
      const hits = all.filter((r) => r.id.startsWith(ref));
      if (hits.length > 1) throw new WardError('EUSAGE', `image id prefix ${ref} is ambiguous; give more digits`);
      return hits[0] ?? null;
    }
    const byName = all.filter((r) => r.name === ref || r.source === ref).sort((a, b) => b.importedAt.localeCompare(a.importedAt));
    return byName[0] ?? null;
  }

  treeDir(key: string): string {
    return path.join(this.trees, key);
  }

  treeMeta(key: string): TreeMeta | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.treeDir(key), 'meta.json'), 'utf8')) as TreeMeta;
    } catch {
      return null;
    }
  }

  /**
   * Runs fn under the store's lock: fetches and runs share it, gc and rm take it alone, so gc
   * never removes a blob or tree a concurrent fetch has written but not yet recorded.
   */
  async locked<T>(mode: 'shared' | 'exclusive', fn: () => Promise<T>): Promise<T> {
    const { addon } = await import('../native/addon');
    const fd = fs.openSync(path.join(this.root, 'lock'), fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    try {
      addon().flock(fd, mode, true);
      return await fn();
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A fresh staging dir for one extraction (removed or renamed by the caller). */
  stagingDir(): string {
    return fs.mkdtempSync(path.join(this.tmp, 'x-'));
  }

  /** The key under which a file's id is remembered: its identity and every change time. */
  statKey(file: string): string | null {
    try {
      const st = fs.statSync(file, { bigint: true });
      if (!st.isFile()) return null;
      return addon().sha256Hex(`${path.resolve(file)}\0${st.dev}\0${st.ino}\0${st.size}\0${st.mtimeNs}\0${st.ctimeNs}`);
    } catch {
      return null;
    }
  }

  /**
   * The id of a file hashed before, if it has not changed since (its owner cannot set ctime
   * back). Saves re-hashing an image on every run; the helper seals what it gets anyway.
   */
  idForKey(key: string | null): string | null {
    if (!key) return null;
    try {
      const id = fs.readFileSync(path.join(this.root, 'ids', key), 'utf8');
      return ID_RE.test(id) ? id : null;
    } catch {
      return null;
    }
  }

  /** key must be taken before the file was read, so a change while reading is never remembered. */
  rememberId(key: string | null, id: string): void {
    if (!key) return;
    const dir = path.join(this.root, 'ids');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeAtomic(path.join(dir, key), id);
  }
}

let atomicSeq = 0;

export function writeAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  // Unique per process and write; a stale one of a dead process of the same pid is truncated.
  const tmp = `${file}.${process.pid}.${++atomicSeq}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}
