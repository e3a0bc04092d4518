// Where an image reference leads: a file (ACI), docker://, oci:, oci-archive:, docker-archive:,
// or an image already in the store. --pull-policy as rkt: new (use the store when the image is
// there), update (always ask the source), never (the store only).
import fs from 'node:fs';
import { WardError } from '../schema/errors';
import type { StartedExtractor } from './render';
import type { ResolvedImage } from './source';
import type { ImageRecord, Store } from './store';
import type { ConfigDirs } from '../trust/dirs';

export type PullPolicy = 'new' | 'update' | 'never';

export interface FetchOptions {
  pullPolicy: PullPolicy;
  /** --insecure-options given on the command line. */
  insecure: ReadonlySet<string>;
  /** "unverified" until Trust verifies images. */
  signer: string;
  authFile?: string;
  /** Where the trust configuration (policy.json, registries.d, trusted keys) is read from; verified unless insecure has 'image'. */
  config: ConfigDirs;
  progress?: import('./pull').PullProgress;
}

export type Transport = 'file' | 'docker' | 'oci' | 'oci-archive' | 'docker-archive' | 'http' | 'store';

export function transportOf(ref: string): Transport {
  if (ref.startsWith('docker://')) return 'docker';
  if (ref.startsWith('oci-archive:')) return 'oci-archive';
  if (ref.startsWith('oci:')) return 'oci';
  if (ref.startsWith('docker-archive:')) return 'docker-archive';
  if (/^https?:\/\//.test(ref)) return 'http';
  // A path is explicit (./, ../, /, file://) or names a file that exists; anything else is an
  // image name (an appc name, as rkt), looked up in the store.
  if (ref.startsWith('file://') || /^\.{0,2}\//.test(ref) || fs.existsSync(ref)) return 'file';
  return 'store';
}

export async function fetchImage(store: Store, ref: string, opts: FetchOptions): Promise<ImageRecord> {
  const transport = transportOf(ref);
  if (transport === 'store') {
    const rec = opts.pullPolicy === 'update' ? null : store.find(ref);
    if (rec) return rec;
    if (opts.pullPolicy === 'never') throw new WardError('EIMAGE', `no image '${ref}' in the store and --pull-policy=never forbids fetching it`);
    // Not in the store: an appc name, found through meta discovery (as rkt).
    const { discover, parseAppcRef } = await import('./discovery');
    const appc = parseAppcRef(ref);
    const found = await discover(appc, opts);
    const { fetchHttpAci } = await import('./http-aci');
    return store.locked('shared', () => fetchHttpAci(store, found.aci, opts, ref, { signatureUrl: found.signature, name: appc.name }));
  }
  if (transport === 'file' && opts.pullPolicy !== 'update') {
    // The hot path of `ward run ./app.aci`: a file seen before, unchanged since, needs no import.
    const id = store.idForKey(store.statKey(ref.replace(/^file:\/\//, '')));
    const rec = id ? store.get(id) : null;
    // An unverified record does not serve a fetch that verifies: the file is checked again.
    if (rec && store.blobs.has(rec.id) && (opts.insecure.has('image') || rec.signer !== 'unverified')) return rec;
  }
  if (opts.pullPolicy !== 'update') {
    const known = transport === 'file' ? null : store.find(ref);
    // An image taken unverified is not handed out as if it had passed: without
    // --insecure-options=image an OCI/Docker image meets the signature policy again, and an ACI
    // URL is fetched again with its signature.
    const recheck = known != null && known.signer === 'unverified' && !opts.insecure.has('image') && (known.kind === 'oci' || transport === 'http');
    if (recheck && opts.pullPolicy === 'never') throw new WardError('ESIGNATURE', `image ${ref} is in the store unverified and --pull-policy=never forbids checking its signature again; pass --insecure-options=image to use it unverified`);
    if (known && !recheck) return known;
    if (opts.pullPolicy === 'never' && transport !== 'file') throw new WardError('EIMAGE', `image ${ref} is not in the store and --pull-policy=never forbids fetching it`);
  }
  return store.locked('shared', async () => {
    switch (transport) {
      case 'file': {
        const { importAciFile } = await import('./import-aci');
        if (!opts.insecure.has('image') && !opts.config) throw new WardError('EINTERNAL', 'ACI verification needs the trust configuration dirs');
        return importAciFile(store, ref.replace(/^file:\/\//, ''), opts.insecure.has('image') ? null : { dirs: opts.config! });
      }
      case 'http': {
        const { fetchHttpAci } = await import('./http-aci');
        return fetchHttpAci(store, ref, opts);
      }
      case 'docker':
      case 'oci':
      case 'oci-archive':
      case 'docker-archive':
        return pullOci(store, ref, transport, opts);
      default:
        throw new WardError('EUSAGE', `${transport} images are not supported by this build of ward yet`);
    }
  });
}

/**
 * Registry and local OCI/Docker sources: resolved, verified under the signature policy, pulled
 * into the store, converted to appc. The verdict comes before the config or any layer is read;
 * --insecure-options=image skips the policy and records the image as unverified.
 */
async function pullOci(store: Store, ref: string, transport: 'docker' | 'oci' | 'oci-archive' | 'docker-archive', opts: FetchOptions): Promise<ImageRecord> {
  // The extractor starts now, so node's start-up in it overlaps the policy, the manifest and the
  // config here; it gets no byte before their verdict, and goes unused if no layer needs it.
  const started = startEarly(store, (await import('./render')).startExtractor);
  try {
    return await pullOciWith(store, ref, transport, opts, started);
  } finally {
    started?.cancel();
  }
}

function startEarly(store: Store, startExtractor: (stagingDir: string) => StartedExtractor): StartedExtractor | undefined {
  try {
    return startExtractor(store.stagingDir());
  } catch {
    return undefined; // e.g. no subordinate ids: said when (and if) a layer must be rendered
  }
}

async function pullOciWith(store: Store, ref: string, transport: 'docker' | 'oci' | 'oci-archive' | 'docker-archive', opts: FetchOptions, started: StartedExtractor | undefined): Promise<ImageRecord> {
  const trust = opts.insecure.has('image') ? null : await import('../trust/verify-image');
  const policy = trust ? (await import('../trust/policy')).loadPolicy(opts.config) : null;
  let signer = trust ? trust.UNVERIFIED : opts.signer;
  let src: ResolvedImage | null;
  if (transport === 'docker') {
    const { resolveDocker, parseDockerReference } = await import('./registry');
    const text = ref.slice('docker://'.length);
    src = await resolveDocker(text, {
      insecureTls: opts.insecure.has('tls'),
      allowHttp: opts.insecure.has('http'),
      ...(opts.authFile ? { authFile: opts.authFile } : {}),
      ...(trust && policy ? { verify: async (top) => void (signer = await trust.verifyDockerImage(policy, opts.config, ref, parseDockerReference(text), top)) } : {}),
    });
  } else {
    if (trust && policy) {
      const { parseLocalReference } = await import('./oci/reference');
      const local = parseLocalReference(ref);
      if (local) signer = trust.verifyLocalImage(policy, local.transport, ref, local.path, local.ref);
    }
    const { openLocalImage } = await import('./oci/local');
    src = await openLocalImage(ref, { spoolDir: store.tmp });
  }
  if (!src) throw new WardError('EUSAGE', `'${ref}' is not an image reference ward understands`);
  try {
    const { ociToAppc } = await import('./oci/to-appc');
    const { pullResolved } = await import('./pull');
    const rec = await pullResolved(store, src, {
      signer,
      toManifest: (s) => ociToAppc(s.config, { name: s.name, manifestDigest: s.manifestDigest, transport: s.transport, configDigest: s.configDigest }),
      ...(opts.progress ? { progress: opts.progress } : {}),
      ...(started ? { started } : {}),
    });
    // The reference as the user wrote it finds the image again (--pull-policy=new).
    const withSource = { ...rec, source: ref, ...(policy ? { trustPolicy: policy.digest } : {}) };
    store.put(withSource);
    return withSource;
  } finally {
    await src.close();
  }
}
