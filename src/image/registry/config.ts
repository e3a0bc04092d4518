// The image behind a manifest: only container images (an artifact's config type, or a layer type
// ward cannot extract, is refused before anything is downloaded), and a config that hashes to
// its digest, parses, is for the platform we asked for (REFERENCE §10: platform substitution)
// and names as many diff_ids as the manifest has layers.
import { ImageConfig, MEDIA, type Manifest } from '../../schema/oci';
import { parseStrictJson } from '../../schema/strict-json';
import { readBlob } from './blob';
import type { RegistryClient } from './client';
import { clean, fail, REMEDY, type Site } from './errors';
import type { Platform, RegistryLimits } from './options';
import { configMismatch, platformText } from './platform';

const CONFIG_TYPES: readonly string[] = [MEDIA.ociConfig, MEDIA.dockerConfig];
/** Layer types ward extracts; foreign ("nondistributable") layers live outside the registry and are refused. */
const LAYER_TYPES: readonly string[] = [MEDIA.ociLayer, MEDIA.ociLayerGzip, MEDIA.ociLayerZstd, MEDIA.dockerLayerGzip];

export function checkImageTypes(manifest: Manifest, site: Site): void {
  if (!CONFIG_TYPES.includes(manifest.config.mediaType)) {
    throw fail(site, 'EIMAGE', `the config's media type is ${clean(manifest.config.mediaType, 100)}: an artifact, not a container image`, 'pull a container image');
  }
  for (const l of manifest.layers) {
    if (!LAYER_TYPES.includes(l.mediaType)) throw fail(site, 'EIMAGE', `layer ${l.digest} has media type ${clean(l.mediaType, 100)}, which ward does not extract`, 'pull a Linux container image');
  }
}

export async function fetchConfig(client: RegistryClient, repo: string, manifest: Manifest, want: Platform, viaIndex: boolean, limits: RegistryLimits): Promise<{ config: ImageConfig; bytes: Buffer }> {
  const bytes = await readBlob(client, repo, manifest.config, limits.maxConfigBytes, 'config');
  const site = client.site(client.url(`/v2/${repo}/blobs/${manifest.config.digest}`));
  let config: ImageConfig;
  try {
    config = ImageConfig.parse(parseStrictJson(bytes));
  } catch (e) {
    const issue = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues?.[0];
    throw fail(site, 'EIMAGE', `the config is malformed (${issue ? `${issue.path.map(String).join('.')}: ${issue.message}` : clean((e as Error).message.replace(/^frame /, ''), 120)})`, REMEDY.hostile);
  }
  const mismatch = configMismatch(config, want);
  if (mismatch) {
    const claimed = viaIndex ? `the index offered it as ${platformText(want)} but ` : '';
    throw fail(site, 'EPLATFORM', `${claimed}${mismatch}, not ${platformText(want)}`, viaIndex ? REMEDY.hostile : `pick an image built for ${platformText(want)}`);
  }
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw fail(site, 'EIMAGE', `the config lists ${config.rootfs.diff_ids.length} layer diff_ids for the manifest's ${manifest.layers.length} layers`, REMEDY.hostile);
  }
  return { config, bytes };
}
