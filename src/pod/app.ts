// From an appc image manifest and the command line to the app the helper is asked to run.
import type { ImageManifest } from '../schema/aci';
import type { AppSpec } from '../schema/protocol';
import { WardError } from '../schema/errors';
import type { AppFlags } from './app-args';
import { appEnvironment, NO_POD_ENV, type PodEnv } from './app-env';
import { resolveGroup, resolveUser } from './app-users';

/** What the command line adds to the image's app. */
export interface AppOverrides {
  flags?: AppFlags;
  pod?: PodEnv;
  /** The image's rendered rootfs (the user's own store), where user and group names are looked up. */
  rootfs?: string;
}

function supplementary(gids: number[], image: string): number[] {
  const bad = gids.find((g) => g > 65535);
  if (bad !== undefined || gids.length > 64) throw new WardError('EIMAGE', `image ${image}: supplementaryGIDs must be at most 64 ids from 0 to 65535${bad !== undefined ? ` (not ${bad})` : ''}`);
  return [...new Set(gids)];
}

function numericOnly(value: string, what: 'user' | 'group', image: string): never {
  throw new WardError('EIMAGE', `image ${image} names its app's ${what} '${value}', and its tree is not at hand to look the name up; give --${what} with a number`);
}

/** A JSON array of strings kept in an annotation (docker2aci's entrypoint and cmd). */
function annotatedArgv(manifest: ImageManifest, name: string): string[] | null {
  const value = manifest.annotations?.find((a) => a.name === name)?.value;
  if (value === undefined) return null;
  try {
    const argv = JSON.parse(value) as unknown;
    if (Array.isArray(argv) && argv.every((a) => typeof a === 'string')) return argv as string[];
  } catch {
    /* refused below */
  }
  throw new WardError('EIMAGE', `image ${manifest.name} has a malformed ${name} annotation; fetch it again`);
}

/**
 * The command line: for an image converted from Docker/OCI, arguments replace Cmd and keep
 * Entrypoint, as docker does; for an ACI they replace the arguments of app.exec, as rkt does.
 */
function commandLine(manifest: ImageManifest, args: string[]): string[] {
  const entrypoint = annotatedArgv(manifest, 'appc.io/docker/entrypoint');
  const cmd = annotatedArgv(manifest, 'appc.io/docker/cmd');
  if (entrypoint !== null || cmd !== null) return [...(entrypoint ?? []), ...(args.length > 0 ? args : (cmd ?? []))];
  const exec = manifest.app?.exec ?? [];
  if (exec.length === 0) return args;
  return args.length > 0 ? [exec[0]!, ...args] : exec;
}

export function appFromManifest(manifest: ImageManifest, args: string[], appName: string, more: AppOverrides = {}): AppSpec {
  const app = manifest.app;
  const flags = more.flags;
  const exec = commandLine(manifest, args);
  // --exec replaces exec[0] (as rkt); the arguments stay the image's unless given after --.
  if (flags?.exec !== undefined) {
    if (exec.length === 0) exec.push(flags.exec);
    else exec[0] = flags.exec;
  }
  if (exec.length === 0) throw new WardError('EIMAGE', `image ${manifest.name} names no command to run; give one after -- or with --exec`);
  const first = exec[0]!;
  if (!first.startsWith('/') && (first.includes('/') || first === '.' || first === '..')) {
    throw new WardError('EIMAGE', `image ${manifest.name}: the command '${first}' must be an absolute path or a name found in PATH`);
  }
  const name = flags?.name ?? appName;
  const db = { rootfs: more.rootfs ?? '', image: manifest.name };
  const id = (value: string, what: 'user' | 'group'): number => {
    if (/^\d+$/.test(value) || more.rootfs !== undefined) return what === 'user' ? resolveUser(value, db) : resolveGroup(value, db);
    return numericOnly(value, what, manifest.name);
  };
  const workingDirectory = flags?.workingDir ?? (app?.workingDirectory || '/');
  if (!workingDirectory.startsWith('/')) throw new WardError('EUSAGE', `--working-dir ${workingDirectory}: give an absolute path inside the pod`);
  return {
    exec,
    user: id(flags?.user ?? app?.user ?? '0', 'user'),
    group: id(flags?.group ?? app?.group ?? '0', 'group'),
    workingDirectory,
    environment: appEnvironment(app?.environment ?? [], flags?.environment ?? [], more.pod ?? NO_POD_ENV, name),
    ...(flags?.name !== undefined ? { name: flags.name } : {}),
    ...(app?.supplementaryGIDs?.length ? { supplementaryGids: supplementary(app.supplementaryGIDs, manifest.name) } : {}),
    ...(flags?.caps ? { caps: flags.caps } : {}),
    ...(flags?.seccomp ? { seccomp: flags.seccomp } : {}),
    // The helper makes the root read-only where it knows the field, and refuses the request where it does not.
    ...(flags?.readonlyRootfs ? { readonlyRootfs: true } : {}),
    ...(app?.eventHandlers?.length ? { eventHandlers: eventHandlers(app.eventHandlers, manifest.name) } : {}),
  };
}

/** appc eventHandlers (pre-start, post-stop), at most one of each; the helper checks them again. */
function eventHandlers(given: unknown[], image: string): NonNullable<AppSpec['eventHandlers']> {
  const out: NonNullable<AppSpec['eventHandlers']> = [];
  for (const h of given) {
    const { name, exec } = (h ?? {}) as { name?: unknown; exec?: unknown };
    const ok = (name === 'pre-start' || name === 'post-stop') && Array.isArray(exec) && exec.length > 0 && exec.every((a) => typeof a === 'string');
    if (!ok || out.some((o) => o.name === name)) throw new WardError('EIMAGE', `image ${image} has a malformed event handler (appc: name pre-start or post-stop, once each, with a non-empty exec); fix its manifest`);
    out.push({ name: name as 'pre-start' | 'post-stop', exec: exec as string[] });
  }
  return out;
}
