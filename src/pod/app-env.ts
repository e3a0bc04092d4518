// An app's environment, in rkt's order (rkt v1.30 stage0/run.go generatePodManifest, lowest
// first): the image manifest's variables, overridden by the app's --environment; then the
// frontend's own variables with --inherit-env, which only fill names still unset (they never
// override the image or --environment, as rkt); then --set-env-file, then --set-env, each
// overriding all before. PATH gets ward's default only when still unset, and AC_APP_NAME is
// always the app's name (stage1 sets it last in rkt).
import fs from 'node:fs';
import { WardError } from '../schema/errors';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const MAX_ENV_FILE = 1 << 20;

/** The pod-level environment flags, the same for every app. */
export interface PodEnv {
  /** --inherit-env: the frontend's environment (absent: not inherited). */
  inherited?: NodeJS.ProcessEnv;
  /** --set-env-file, its NAME=VALUE lines in order. */
  fromFile: [string, string][];
  /** --set-env, in order. */
  explicit: [string, string][];
}

export const NO_POD_ENV: PodEnv = { fromFile: [], explicit: [] };

export function appEnvironment(image: readonly { name: string; value: string }[], perApp: readonly [string, string][], pod: PodEnv, appName: string): { name: string; value: string }[] {
  const env = new Map<string, string>();
  for (const e of image) env.set(e.name, e.value);
  for (const [n, v] of perApp) env.set(n, v);
  for (const [n, v] of Object.entries(pod.inherited ?? {})) {
    // Names no pod can carry (bash's exported functions, ...) are not inherited.
    if (v !== undefined && ENV_NAME.test(n) && n.length <= 256 && v.length <= 65536 && !env.has(n)) env.set(n, v);
  }
  for (const [n, v] of pod.fromFile) env.set(n, v);
  for (const [n, v] of pod.explicit) env.set(n, v);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  env.set('AC_APP_NAME', appName);
  return [...env].map(([name, value]) => ({ name, value }));
}

/** --set-env NAME=VALUE. */
export function parseSetEnv(values: readonly string[]): [string, string][] {
  return values.map((v) => {
    const eq = v.indexOf('=');
    const name = v.slice(0, eq);
    if (eq <= 0 || !ENV_NAME.test(name) || name.length > 256) throw new WardError('EUSAGE', `--set-env=${v}: expected NAME=VALUE with a valid variable name`);
    return [name, v.slice(eq + 1)];
  });
}

/** --set-env-file FILE: NAME=VALUE per line; blank lines and lines starting with # are skipped. */
export function readEnvFile(file: string): [string, string][] {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_ENV_FILE) throw new Error(`larger than ${MAX_ENV_FILE} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new WardError('EUSAGE', `--set-env-file ${file}: ${(e as Error).message}`);
  }
  const out: [string, string][] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const eq = line.indexOf('=');
    const name = line.slice(0, eq);
    if (eq <= 0 || !ENV_NAME.test(name) || name.length > 256 || line.includes('\u0000')) {
      throw new WardError('EUSAGE', `--set-env-file ${file}:${i + 1}: expected NAME=VALUE`);
    }
    out.push([name, line.slice(eq + 1)]);
  });
  return out;
}
