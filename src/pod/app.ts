// From an appc image manifest and the command line to the app the helper is asked to run.
import type { ImageManifest } from '../schema/aci';
import type { AppSpec } from '../schema/protocol';
import { WardError } from '../image/errors';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function numericId(value: string, what: 'user' | 'group', image: string): number {
  if (/^\d+$/.test(value) && Number(value) <= 65535) return Number(value);
  throw new WardError('EIMAGE', `image ${image} names its app's ${what} '${value}'; only numeric ids (0-65535) are supported so far: set app.${what} to a number`);
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

export function appFromManifest(manifest: ImageManifest, args: string[], appName: string): AppSpec {
  const app = manifest.app;
  const exec = commandLine(manifest, args);
  if (exec.length === 0) throw new WardError('EIMAGE', `image ${manifest.name} names no command to run; give one after --`);
  const first = exec[0]!;
  if (!first.startsWith('/') && (first.includes('/') || first === '.' || first === '..')) {
    throw new WardError('EIMAGE', `image ${manifest.name}: the command '${first}' must be an absolute path or a name found in PATH`);
  }
  const env = new Map<string, string>([['PATH', DEFAULT_PATH]]);
  for (const e of app?.environment ?? []) env.set(e.name, e.value);
  env.set('AC_APP_NAME', appName);
  return {
    exec,
    user: numericId(app?.user ?? '0', 'user', manifest.name),
    group: numericId(app?.group ?? '0', 'group', manifest.name),
    workingDirectory: app?.workingDirectory || '/',
    environment: [...env].map(([name, value]) => ({ name, value })),
  };
}
