// The PGP keystore, laid out as rkt's: <dir>/trustedkeys/root.d/<fingerprint> (trusted for every
// image) and <dir>/trustedkeys/prefix.d/<prefix>/<fingerprint> (trusted for images named <prefix>
// or below it; '/' in a prefix is a directory level, as rkt). The system, local and user dirs
// overlay in that order; an empty file masks the key of that fingerprint and scope in the dirs
// below it. Prefixes match whole path segments: example.com/foo covers example.com/foo/bar but
// never example.com/foobar (rkt compared strings).
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../schema/errors';
import { overlayOrder, type ConfigDirs } from './dirs';

export type Layer = 'system' | 'local' | 'user';
/** 'root' or an image name prefix. */
export type Scope = string;

export interface KeyFile {
  /** Uppercase hex, as the file is named (rkt writes lowercase; both are read). */
  fingerprint: string;
  scope: Scope;
  layer: Layer;
  file: string;
}

const FPR_RE = /^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$/;
const NAME_RE = /^[a-z0-9]+([-._~/][a-z0-9]+)*$/;
const MAX_DEPTH = 32;

export function checkPrefix(prefix: string): string {
  if (!NAME_RE.test(prefix)) throw new WardError('EUSAGE', `'${prefix}' is not an appc image name prefix (lowercase letters and digits, separated by - . _ ~ /)`);
  return prefix;
}

/** Whether a key trusted for scope may sign an image named name. */
export function covers(scope: Scope, name: string): boolean {
  return scope === 'root' || name === scope || name.startsWith(`${scope}/`);
}

export function scopeDir(configDir: string, scope: Scope): string {
  return scope === 'root' ? path.join(configDir, 'trustedkeys', 'root.d') : path.join(configDir, 'trustedkeys', 'prefix.d', ...checkPrefix(scope).split('/'));
}

/** The key files in one dir of one scope: [fingerprint, file, empty]. */
function filesIn(dir: string): { fingerprint: string; file: string; empty: boolean }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out = [];
  for (const n of names) {
    if (!FPR_RE.test(n)) continue;
    const file = path.join(dir, n);
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    out.push({ fingerprint: n.toUpperCase(), file, empty: st.size === 0 });
  }
  return out;
}

/** Every prefix that has a directory under prefix.d (symlinked dirs are not entered). */
function prefixesIn(prefixRoot: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, parts: string[]) => {
    if (parts.length > MAX_DEPTH) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (parts.length > 0) out.push(parts.join('/'));
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name), [...parts, e.name]);
  };
  walk(prefixRoot, []);
  return out.filter((p) => NAME_RE.test(p));
}

export class Keystore {
  constructor(readonly dirs: ConfigDirs) {}

  private layers(): [Layer, string][] {
    const [system, local, user] = overlayOrder(this.dirs);
    return [['system', system!], ['local', local!], ['user', user!]];
  }

  /** The effective keys (after masking), optionally only those that may sign an image named name. */
  list(name?: string): KeyFile[] {
    const scopes = new Set<Scope>(['root']);
    for (const [, dir] of this.layers()) for (const p of prefixesIn(path.join(dir, 'trustedkeys', 'prefix.d'))) scopes.add(p);
    const out: KeyFile[] = [];
    for (const scope of [...scopes].sort()) {
      if (name !== undefined && !covers(scope, name)) continue;
      const keys = new Map<string, KeyFile>();
      for (const [layer, dir] of this.layers()) {
        for (const f of filesIn(scopeDir(dir, scope))) {
          if (f.empty) keys.delete(f.fingerprint);
          else keys.set(f.fingerprint, { fingerprint: f.fingerprint, scope, layer, file: f.file });
        }
      }
      out.push(...keys.values());
    }
    return out;
  }

  /** Stores an armored public key, named by its fingerprint, into configDir for scope. */
  add(configDir: string, scope: Scope, fingerprint: string, armored: string): string {
    const dir = scopeDir(configDir, scope);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const file = path.join(dir, fingerprint.toLowerCase());
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, armored, { mode: 0o644 });
    fs.renameSync(tmp, file);
    return file;
  }

  /**
   * Stops trusting fingerprint from configDir's point of view: its own copies are removed, and
   * copies in the dirs below it are masked with empty files. Returns what was done, one per line.
   */
  remove(configDir: string, fingerprint: string): string[] {
    const fpr = fingerprint.toUpperCase();
    if (!FPR_RE.test(fpr)) throw new WardError('EUSAGE', `'${fingerprint}' is not a key fingerprint (40 or 64 hex digits)`);
    const done: string[] = [];
    // A lower dir's copy shows once the caller's own is gone: look again until none is left.
    for (let round = 0; round < 3; round++) for (const k of this.list().filter((x) => x.fingerprint === fpr)) {
      if (path.resolve(k.file).startsWith(path.resolve(configDir) + path.sep)) {
        fs.rmSync(k.file);
        done.push(`removed ${k.file}`);
      } else {
        const dir = scopeDir(configDir, k.scope);
        fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
        const mask = path.join(dir, fpr.toLowerCase());
        fs.writeFileSync(mask, '', { mode: 0o644 });
        done.push(`masked ${k.file} with ${mask}`);
      }
    }
    if (done.length === 0) throw new WardError('EUSAGE', `no trusted key has fingerprint ${fpr}; see ward trust list`);
    return done;
  }
}
