// From an appc image manifest and the command line to the app the helper is asked to run.
import type { ImageManifest } from '../schema/aci';
import type { AppSpec } from '../schema/protocol';
import { WardError } from '../image/errors';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function numericId(value: string, what: 'user' | 'group', image: string): number {
  if (/^\d+$/.test(value) && Number(value) <= 65535) return Number(value);
  throw new WardError('EIMAGE', `image ${image} names its app's ${what} '${value}'; only numeric ids (0-65535) are supported so far: set app.${what} to a number`);
}

export function appFromManifest(manifest: ImageManifest, args: string[], appName: string): AppSpec {
  const app = manifest.app;
  if (!app?.exec?.length) throw new WardError('EIMAGE', `image ${manifest.name} has no app.exec; it cannot be run without one`);
  const exec = args.length > 0 ? [app.exec[0]!, ...args] : app.exec;
  if (!exec[0]!.startsWith('/')) throw new WardError('EIMAGE', `image ${manifest.name}: app.exec[0] '${exec[0]}' must be an absolute path`);
  const env = new Map<string, string>([['PATH', DEFAULT_PATH]]);
  for (const e of app.environment ?? []) env.set(e.name, e.value);
  env.set('AC_APP_NAME', appName);
  return {
    exec,
    user: numericId(app.user, 'user', manifest.name),
    group: numericId(app.group, 'group', manifest.name),
    workingDirectory: app.workingDirectory || '/',
    environment: [...env].map(([name, value]) => ({ name, value })),
  };
}
