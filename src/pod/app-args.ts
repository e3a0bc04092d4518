// What follows `ward run` / `ward prepare` once commander has taken the pod-level flags, as rkt
// reads it (rkt/cli_apps.go parseApps): one or more `IMAGE [per-app flags] [-- args...]`, apps
// separated by `---` (or simply following each other when an app has no arguments).
// PER_APP_FLAGS is the one table of per-app flags: a row says the flag's name, whether it takes a
// value, and how it changes the app's AppFlags.
import { WardError } from '../schema/errors';
import { isAppName, isCapName, type CapName } from '../schema/app-names';
import { parseSeccompFlag, type SeccompFlag } from './app-seccomp-flag';
import { parseCpu, parseMemory } from './isolator-args';

/** At most this many apps in one pod (the helper's limit too). */
export const MAX_APPS = 16;

export interface AppFlags {
  exec?: string;
  user?: string;
  group?: string;
  workingDir?: string;
  /** --environment NAME=VALUE, in order; later names win. */
  environment: [string, string][];
  readonlyRootfs?: boolean;
  name?: string;
  caps?: { retain: CapName[] } | { remove: CapName[] };
  seccomp?: SeccompFlag;
  /** --mount volume=NAME,target=/PATH for this app, as given (checked with the pod's volumes in run.ts). */
  mounts: string[];
  /** --memory and --cpu for this app, over the pod-level ones (checked here, kept as given). */
  memory?: string;
  cpu?: string;
}

export interface AppArgs {
  image: string;
  flags: AppFlags;
  /** Arguments after `--`; null when none were given (the image's own arguments stay). */
  args: string[] | null;
}

export interface PerAppFlag {
  /** The long name, without the leading dashes. */
  name: string;
  /** true: takes a value (--flag=V or --flag V); false: a switch (--flag, or --flag=true|false). */
  value: boolean;
  help: string;
  apply(app: AppFlags, value: string, image: string): void;
}

function usage(message: string): never {
  throw new WardError('EUSAGE', message);
}

function nameValue(flag: string, v: string): [string, string] {
  const eq = v.indexOf('=');
  if (eq <= 0) usage(`--${flag}=${v}: expected NAME=VALUE`);
  const name = v.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name) || name.length > 256) usage(`--${flag}: '${name}' is not a valid environment variable name`);
  const value = v.slice(eq + 1);
  if (value.includes('\u0000')) usage(`--${flag}: the value of ${name} contains a NUL byte`);
  return [name, value];
}

function capList(flag: string, v: string): CapName[] {
  const out: CapName[] = [];
  for (const raw of v.split(',')) {
    const c = raw.trim().toUpperCase();
    if (c === '') continue;
    const name = c.startsWith('CAP_') ? c : `CAP_${c}`;
    if (!isCapName(name)) usage(`--${flag}: unknown capability '${raw.trim()}'; use names such as CAP_NET_ADMIN (capabilities(7))`);
    if (!out.includes(name)) out.push(name);
  }
  if (out.length === 0) usage(`--${flag}: give at least one capability, e.g. --${flag}=CAP_NET_BIND_SERVICE`);
  return out;
}

function setCaps(app: AppFlags, mode: 'retain' | 'remove', v: string): void {
  const flag = `caps-${mode}`;
  if (app.caps && !(mode in app.caps)) usage(`--caps-retain and --caps-remove cannot both be given for one image (as rkt); choose one`);
  app.caps = mode === 'retain' ? { retain: capList(flag, v) } : { remove: capList(flag, v) };
}

export const PER_APP_FLAGS: PerAppFlag[] = [
  { name: 'exec', value: true, help: 'the command to run instead of the image\'s exec[0]', apply: (a, v) => { if (v === '') usage('--exec: give a command'); a.exec = v; } },
  { name: 'user', value: true, help: 'user id, or a name from the image\'s /etc/passwd', apply: (a, v) => { a.user = v; } },
  { name: 'group', value: true, help: 'group id, or a name from the image\'s /etc/group', apply: (a, v) => { a.group = v; } },
  { name: 'working-dir', value: true, help: 'the app\'s working directory (absolute)', apply: (a, v) => { a.workingDir = v; } },
  { name: 'environment', value: true, help: 'NAME=VALUE for this app (repeatable)', apply: (a, v) => { a.environment.push(nameValue('environment', v)); } },
  { name: 'readonly-rootfs', value: false, help: 'mount the app\'s root filesystem read-only', apply: (a, v) => { a.readonlyRootfs = v === 'true'; } },
  { name: 'name', value: true, help: 'the app\'s name (default: the last part of the image name)', apply: (a, v) => {
    if (!isAppName(v)) usage(`--name=${v}: an app name is lower-case letters, digits and single dashes, at most 64 (appc ACName)`);
    a.name = v;
  } },
  { name: 'caps-retain', value: true, help: 'exactly these capabilities (comma-separated)', apply: (a, v) => setCaps(a, 'retain', v) },
  { name: 'caps-remove', value: true, help: 'the default capabilities without these (comma-separated)', apply: (a, v) => setCaps(a, 'remove', v) },
  { name: 'seccomp', value: true, help: 'mode=retain|remove[,errno=ENAME],SYSCALL|@GROUP,...', apply: (a, v) => { a.seccomp = parseSeccompFlag(v); } },
  { name: 'mount', value: true, help: 'mount a pod volume into this app: volume=NAME,target=/PATH (repeatable; before the first image: every app)', apply: (a, v) => { a.mounts.push(v); } },
  { name: 'memory', value: true, help: 'this app\'s memory limit: 512M, 1G, 256Mi (over the pod-level --memory)', apply: (a, v, image) => { parseMemory(v, `--memory for image ${image}:`); a.memory = v; } },
  { name: 'cpu', value: true, help: 'this app\'s CPU limit: cores (1, 0.5) or thousandths (500m) (over the pod-level --cpu)', apply: (a, v, image) => { parseCpu(v, `--cpu for image ${image}:`); a.cpu = v; } },
];

function emptyFlags(): AppFlags {
  return { environment: [], mounts: [] };
}

function findFlag(name: string): PerAppFlag | undefined {
  return PER_APP_FLAGS.find((f) => f.name === name);
}

/**
 * Splits the words after the pod-level flags into apps. podFlags: the pod-level long names
 * (commander's), so one given after an image gets a precise remedy.
 */
export function parseApps(words: readonly string[], podFlags: readonly string[] = []): AppArgs[] {
  const apps: AppArgs[] = [];
  let current: AppArgs | null = null;
  let inArgs = false;
  /** After `---`: the next word must be an image. */
  let wantImage = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (inArgs) {
      if (w === '---') {
        inArgs = false;
        wantImage = true;
      } else current!.args!.push(w);
      continue;
    }
    if (w === '--') {
      if (!current || wantImage) usage(`'--' must follow an image: ward run IMAGE [flags] -- ARGS... [--- IMAGE2 ...]`);
      current.args = [];
      inArgs = true;
      continue;
    }
    if (w === '---') {
      if (!current || wantImage) usage(`'---' must separate two apps: ward run IMAGE1 [-- ARGS] --- IMAGE2`);
      wantImage = true;
      continue;
    }
    if (w.startsWith('--') && w.length > 2) {
      const eq = w.indexOf('=');
      const name = w.slice(2, eq < 0 ? undefined : eq);
      const flag = findFlag(name);
      if (!flag) {
        if (podFlags.includes(name)) usage(`--${name} is a pod-level flag: give it before the first image`);
        usage(`unknown per-app flag --${name}${current ? ` for image ${current.image}` : ''}; per-app flags: ${PER_APP_FLAGS.map((f) => `--${f.name}`).join(', ')}`);
      }
      if (!current || wantImage) usage(`--${name} is a per-app flag: give it after the image it applies to`);
      let value: string;
      if (eq >= 0) value = w.slice(eq + 1);
      else if (!flag.value) value = 'true';
      else {
        const next = words[i + 1];
        if (next === undefined || next === '--' || next === '---') usage(`--${name} needs a value (--${name}=VALUE) for image ${current.image}`);
        value = next;
        i++;
      }
      if (!flag.value && value !== 'true' && value !== 'false') usage(`--${name} takes no value (or =true, =false)`);
      flag.apply(current.flags, value, current.image);
      continue;
    }
    if (w.startsWith('-') && w !== '-') usage(`unknown per-app flag ${w}${current ? ` for image ${current.image}` : ''}; per-app flags are long flags: ${PER_APP_FLAGS.map((f) => `--${f.name}`).join(', ')}`);
    if (w === '') usage('an empty word cannot name an image');
    current = { image: w, flags: emptyFlags(), args: null };
    apps.push(current);
    wantImage = false;
    if (apps.length > MAX_APPS) usage(`a pod has at most ${MAX_APPS} apps`);
  }
  if (apps.length === 0) usage('name an image to run: ward run IMAGE [flags] [-- ARGS...] [--- IMAGE2 ...]');
  if (wantImage) usage(`'---' at the end names no image; remove it or add the next image`);
  const names = new Set<string>();
  for (const a of apps) {
    if (a.flags.name === undefined) continue;
    if (names.has(a.flags.name)) usage(`two apps are named '${a.flags.name}'; app names in a pod must differ (--name)`);
    names.add(a.flags.name);
  }
  return apps;
}
