// One entry point for the local transports, for `ward fetch` and friends.
import type { ResolvedImage } from '../source';
import type { ArchiveOptions } from './archive-file';
import { openDockerArchive } from './docker-archive';
import { openOciLayout } from './layout';
import { openOciArchive } from './oci-archive';
import { parseLocalReference } from './reference';
import type { WantedPlatform } from './select';

export type LocalOptions = ArchiveOptions & { platform?: WantedPlatform };

/** Resolves oci:, oci-archive: or docker-archive: references; null for any other transport. */
export async function openLocalImage(spec: string, o: LocalOptions = {}): Promise<ResolvedImage | null> {
  const r = parseLocalReference(spec);
  if (!r) return null;
  if (r.transport === 'oci') return openOciLayout(r.path, r.ref, o.platform ? { platform: o.platform } : {});
  if (r.transport === 'oci-archive') return openOciArchive(r.path, r.ref, o);
  return openDockerArchive(r.path, r.ref, o);
}
