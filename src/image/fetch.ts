// Where an image reference leads: a file (ACI), docker://, oci:, oci-archive:, docker-archive:,
// or an image already in the store. --pull-policy as rkt: new (use the store when the image is
// there), update (always ask the source), never (the store only).
import fs from 'node:fs';
import { WardError } from './errors';
import type { ResolvedImage } from './source';
import type { ImageRecord, Store } from './store';

export type PullPolicy = 'new' | 'update' | 'never';

export interface FetchOptions {
  pullPolicy: PullPolicy;
  /** --insecure-options given on the command line. */
  insecure: ReadonlySet<string>;
  /** "unverified" until Trust verifies images. */
  signer: string;
  /** The overlaid trust configuration dirs: ACIs are verified against their keystore unless insecure has 'image'. */
  config?: import('../trust/dirs').ConfigDirs;
  authFile?: string;
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
    // An ACI URL stored unverified is fetched again (with its signature) when this fetch verifies.
    if (known && (transport !== 'http' || opts.insecure.has('image') || known.signer !== 'unverified')) return known;
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

/** Registry and local OCI/Docker sources: resolved, pulled into the store, converted to appc. */
async function pullOci(store: Store, ref: string, transport: 'docker' | 'oci' | 'oci-archive' | 'docker-archive', opts: FetchOptions): Promise<ImageRecord> {
  let src: ResolvedImage | null;
  if (transport === 'docker') {
    const { resolveDocker } = await import('./registry');
    src = await resolveDocker(ref.slice('docker://'.length), {
      insecureTls: opts.insecure.has('tls'),
      allowHttp: opts.insecure.has('http'),
      ...(opts.authFile ? { authFile: opts.authFile } : {}),
    });
  } else {
    const { openLocalImage } = await import('./oci/local');
    src = await openLocalImage(ref, { spoolDir: store.tmp });
  }
  if (!src) throw new WardError('EUSAGE', `'${ref}' is not an image reference ward understands`);
  try {
    const { ociToAppc } = await import('./oci/to-appc');
    const { pullResolved } = await import('./pull');
    const rec = await pullResolved(store, src, {
      signer: opts.signer,
      toManifest: (s) => ociToAppc(s.config, { name: s.name, manifestDigest: s.manifestDigest, transport: s.transport, configDigest: s.configDigest }),
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    // The reference as the user wrote it finds the image again (--pull-policy=new).
    const withSource = { ...rec, source: ref };
    store.put(withSource);
    return withSource;
  } finally {
    await src.close();
  }
}
