// registries.d/*.yaml (containers-registries.d(5)): per registry, namespace or image, where
// simple signatures are looked up ("lookaside") and whether sigstore attachments (cosign's
// sha256-<hex>.sig tags) are read. The files of the user, local and system config dirs are
// merged, user over local over system; within one dir a scope (or default-docker) defined twice
// is an error, as in containers. The most specific scope that sets a key wins.
import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { WardError } from '../schema/errors';
import { RegistriesDFile, type RegistriesDSection } from '../schema/signature-policy';
import { overlayOrder, type ConfigDirs } from './dirs';

export interface RegistriesD {
  docker: Map<string, { section: RegistriesDSection; file: string }>;
  defaultDocker: { section: RegistriesDSection; file: string } | null;
}

const MAX_FILE = 1 << 20;

function bad(file: string, why: string): WardError {
  return new WardError('EUSAGE', `signature lookaside configuration ${file}: ${why}; fix or remove the file`);
}

function readDir(dir: string): RegistriesD {
  const out: RegistriesD = { docker: new Map(), defaultDocker: null };
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return out;
    throw bad(dir, (e as Error).message);
  }
  for (const n of names) {
    const file = path.join(dir, n);
    const st = fs.statSync(file);
    if (!st.isFile()) continue;
    if (st.size > MAX_FILE) throw bad(file, `larger than ${MAX_FILE} bytes`);
    const doc = parseDocument(fs.readFileSync(file, 'utf8'), { uniqueKeys: true, strict: true, prettyErrors: false });
    if (doc.errors.length > 0) throw bad(file, `not valid YAML (${doc.errors[0]!.message.split('\n')[0]})`);
    const parsed = RegistriesDFile.safeParse(doc.toJS({ maxAliasCount: 16 }));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.map(String).join('.') || 'the document';
      const keys = (issue as { keys?: string[] }).keys;
      throw bad(file, keys ? `unknown field ${keys.map((k) => `'${k}'`).join(', ')} in ${where}` : `${where}: ${issue.message}`);
    }
    const f = parsed.data;
    if (!f) continue;
    if (f['default-docker']) {
      if (out.defaultDocker) throw bad(file, `default-docker is also defined in ${out.defaultDocker.file}`);
      out.defaultDocker = { section: f['default-docker'], file };
    }
    for (const [scope, section] of Object.entries(f.docker ?? {})) {
      const other = out.docker.get(scope);
      if (other) throw bad(file, `docker scope '${scope}' is also defined in ${other.file}`);
      out.docker.set(scope, { section, file });
    }
  }
  return out;
}

/** The merged configuration of the three dirs' registries.d. */
export function loadRegistriesD(dirs: ConfigDirs): RegistriesD {
  const merged: RegistriesD = { docker: new Map(), defaultDocker: null };
  for (const d of overlayOrder(dirs)) {
    const one = readDir(path.join(d, 'registries.d'));
    for (const [k, v] of one.docker) merged.docker.set(k, v);
    if (one.defaultDocker) merged.defaultDocker = one.defaultDocker;
  }
  return merged;
}

/** The value of `key` from the most specific section (of `scopes`, most specific first) that sets it. */
function pick<K extends keyof RegistriesDSection>(cfg: RegistriesD, scopes: string[], keys: K[]): RegistriesDSection[K] | undefined {
  const sections = [...scopes.map((s) => cfg.docker.get(s)?.section), cfg.defaultDocker?.section];
  for (const s of sections) {
    if (!s) continue;
    for (const k of keys) if (s[k] !== undefined) return s[k];
  }
  return undefined;
}

/** The lookaside base URL for an image (before /<repository>@<alg>=<hex>/signature-N), or null. */
export function lookasideFor(cfg: RegistriesD, scopes: string[]): string | null {
  return (pick(cfg, scopes, ['lookaside', 'sigstore']) as string | undefined) ?? null;
}

export function useSigstoreAttachments(cfg: RegistriesD, scopes: string[]): boolean {
  return (pick(cfg, scopes, ['use-sigstore-attachments']) as boolean | undefined) ?? false;
}
