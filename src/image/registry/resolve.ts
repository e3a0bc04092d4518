// resolveDocker: from a docker:// reference to a ResolvedImage. The manifest for this machine's
// platform (walk.ts), then the config (config.ts), every document checked against its digest and
// size; the layers are left for the caller to stream through openLayer. Between the two, the
// caller's verify (signature policy) sees the top-level digest; nothing later is read if it throws.
import { WardError } from '../../schema/errors';
import type { ResolvedImage } from '../source';
import { openBlob } from './blob';
import { RegistryClient } from './client';
import { checkImageTypes, fetchConfig } from './config';
import { defaultAuthFile, loadCredentials, type Credentials } from './credentials';
import { Http } from './http';
import { DEFAULT_REGISTRY_LIMITS, DEFAULT_REGISTRY_TIMEOUTS, type Platform, type RegistryOptions } from './options';
import { hostPlatform } from './platform';
import { parseDockerReference } from './reference';
import { fetchCosignSignatures } from './signatures';
import { sharedTokenCache } from './token-cache';
import { walkToManifest } from './walk';

export interface RegistryImage extends ResolvedImage {
  transport: 'docker';
  /** The index (or manifest list) the manifest was chosen from, when the reference named one. */
  index?: { digest: string; bytes: Buffer };
  platform: Platform;
  /** The registry's base URL, e.g. https://registry-1.docker.io/. */
  registry: string;
}

export async function resolveDocker(refText: string, opts: RegistryOptions = {}): Promise<RegistryImage> {
  const ref = parseDockerReference(refText);
  const image = `docker://${ref.name}`;
  const limits = { ...DEFAULT_REGISTRY_LIMITS, ...opts.limits };
  const want = opts.platform ?? hostPlatform();
  const authFile = opts.authFile ?? defaultAuthFile();
  let creds: Credentials | null;
  try {
    creds = opts.credentials !== undefined ? opts.credentials : loadCredentials(authFile, ref.domain);
  } catch (e) {
    throw e instanceof WardError ? new WardError(e.code, `${image}: ${e.message}`) : e;
  }
  const httpc = new Http({ image, insecureTls: opts.insecureTls ?? false, limits, timeouts: { ...DEFAULT_REGISTRY_TIMEOUTS, ...opts.timeouts }, userAgent: opts.userAgent ?? 'ward' });
  try {
    const client = await RegistryClient.connect({ httpc, ref, creds, authFile, cache: opts.tokenCache ?? sharedTokenCache, allowHttp: opts.allowHttp ?? false, limits });
    const repo = ref.repository;
    const walked = await walkToManifest(client, repo, ref, want, limits);
    const manifest = walked.manifest;
    checkImageTypes(manifest, client.site(walked.url));
    if (opts.verify) {
      const top = walked.index?.digest ?? walked.digest;
      await opts.verify({ digest: top, cosignSignatures: () => fetchCosignSignatures(client, repo, top, limits) });
    }
    const config = await fetchConfig(client, repo, manifest, want, walked.index !== undefined, limits);
    return {
      transport: 'docker',
      name: ref.name,
      manifestDigest: walked.digest,
      manifest: walked.bytes,
      configDigest: manifest.config.digest,
      config: config.config,
      configBytes: config.bytes,
      layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
      ...(walked.index ? { index: walked.index } : {}),
      platform: want,
      registry: client.base.href,
      openLayer: (layer, offset) => openBlob(client, repo, layer, offset),
      // Ends the keep-alive connections, and with them any layer still being read.
      close: async () => httpc.close(),
    };
  } catch (e) {
    httpc.close();
    throw e;
  }
}
