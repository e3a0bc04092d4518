// ward run: get the image into the store and sealed, then ask the helper to run it with our
// stdio, forwarding signals, and return the app's exit status.
import { WardError } from '../image/errors';
import { fetchImage, type PullPolicy } from '../image/fetch';
import { Store, type ImageRecord } from '../image/store';
import type { ConfigDirs } from '../trust/dirs';
import type { ImageManifest } from '../schema/aci';
import type { ImageRef } from '../schema/protocol';
import type { RunSelinuxMode } from '../schema/selinux';
import { appFromManifest } from './app';
import { HelperClient } from './client';
import { sealImage } from './seal';

export interface RunOptions {
  image: string;
  args: string[];
  storeDir: string;
  socketPath: string;
  /** image, tls, http: only image concerns the helper, which checks it against its policy. */
  insecureOptions: string[];
  hostname?: string;
  pullPolicy?: PullPolicy;
  /** The trust configuration dirs: the keystore for ACIs, the signature policy for OCI images. */
  config: ConfigDirs;
  /** --selinux; absent: the helper policy decides. */
  selinux?: RunSelinuxMode;
}

/**
 * The image's verdict, from its record: a signer's fingerprint, or "unverified", which runs only
 * with --insecure-options=image (and the helper's consent, which it checks itself).
 */
function checkSignature(opts: RunOptions, rec: ImageRecord): ImageRef['signer'] {
  if (rec.signer !== 'unverified' && /^[0-9A-F]{40,64}$/.test(rec.signer)) return rec.signer;
  if (opts.insecureOptions.includes('image')) return 'unverified';
  throw new WardError('ESIGNATURE', `image ${opts.image} is not verified (${rec.kind === 'aci' ? 'fetched with --insecure-options=image' : 'fetched with --insecure-options=image, or accepted by an insecureAcceptAnything policy'}); fetch it again with its signature from a trusted key (ward trust), or pass --insecure-options=image`);
}

export async function runPod(opts: RunOptions): Promise<number> {
  const store = new Store(opts.storeDir);
  store.init();
  let rec = await fetchImage(store, opts.image, { pullPolicy: opts.pullPolicy ?? 'new', insecure: new Set(opts.insecureOptions), signer: 'unverified', config: opts.config });
  const signer = checkSignature(opts, rec);
  if (!rec.sealed) rec = { ...rec, sealed: await sealImage(store, rec, opts.socketPath) };
  for (let attempt = 0; ; attempt++) {
    const manifest = rec.manifest as ImageManifest;
    const app = appFromManifest(manifest, opts.args, manifest.name.split('/').pop() || 'app');
    const client = new HelperClient(opts.socketPath);
    try {
      client.send({ verb: 'run', tree: rec.sealed!, image: { name: rec.name, id: rec.id, signer }, app, ...(opts.hostname ? { hostname: opts.hostname } : {}), insecureOptions: opts.insecureOptions.includes('image') ? ['image'] : [], ...(opts.selinux ? { selinux: opts.selinux } : {}) }, [0, 1, 2]);
      const first = await client.receive();
      if (!first.ok) {
        // The helper's store was reset since we sealed: seal again, once.
        if (first.code === 'ENOTREE' && attempt === 0) {
          rec = { ...rec, sealed: await sealImage(store, rec, opts.socketPath) };
          continue;
        }
        throw new WardError(first.code, first.message);
      }
      const forward = (sig: NodeJS.Signals) => () => {
        try {
          client.send({ verb: 'signal', signal: sig as 'SIGTERM' });
        } catch {
          /* the pod is ending */
        }
      };
      const sigs: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
      const handlers = sigs.map((s) => [s, forward(s)] as const);
      for (const [s, h] of handlers) process.on(s, h);
      try {
        for (;;) {
          const ev = await client.receive(2 ** 31 - 1);
          if (!ev.ok) throw new WardError(ev.code, ev.message);
          if (ev.event === 'exited') return ev.code as number;
        }
      } finally {
        for (const [s, h] of handlers) process.off(s, h);
      }
    } finally {
      client.close();
    }
  }
}
