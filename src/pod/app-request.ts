// The apps of a run/prepare request. The helper takes one app in the fields tree, image and app
// today; pods of several apps go as `apps: [{tree, image, app}, ...]` (the pods contract, §1),
// which a helper that does not know them refuses as a malformed frame.
import type { ImageManifest } from '../schema/aci';
import type { AppSpec, ImageRef } from '../schema/protocol';
import type { AppFlags } from './app-args';

export interface PodApp {
  tree: string;
  image: ImageRef;
  app: AppSpec;
}

export function podAppsBody(apps: readonly PodApp[]): { tree: string; image: ImageRef; app: AppSpec } | { apps: PodApp[] } {
  if (apps.length === 1) return { ...apps[0]! };
  return { apps: [...apps] };
}

/** An image's default app name: the last part of its name as an appc ACName (as rkt). */
export function defaultAppName(imageName: string): string {
  const last = imageName.split('/').pop() ?? '';
  const name = last.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64).replace(/-+$/, '');
  return name || 'app';
}

const isNumber = (v: string | undefined): boolean => v === undefined || /^\d+$/.test(v);

/** Whether the app's user or group is a name to look up in the image's tree. */
export function needsIdLookup(manifest: ImageManifest, flags: AppFlags): boolean {
  return !isNumber(flags.user ?? manifest.app?.user) || !isNumber(flags.group ?? manifest.app?.group);
}
