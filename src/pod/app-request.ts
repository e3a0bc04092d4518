// The apps of a run/prepare request (`apps: [{tree, image, app}, ...]`): default names and
// whether an app's user or group names need the image's tree.
import type { ImageManifest } from '../schema/aci';
import type { AppSpec, ImageRef } from '../schema/protocol';
import type { AppFlags } from './app-args';

export interface PodApp {
  tree: string;
  image: ImageRef;
  app: AppSpec;
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
