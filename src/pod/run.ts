// ward run: get the image into the store and sealed, then ask the helper to run it with our
// stdio, forwarding signals, and return the app's exit status. ward prepare does the same up to
// the launch and leaves a prepared pod; run --detach returns once the app has started.
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../schema/errors';
import { fetchImage, type PullPolicy } from '../image/fetch';
import { Store, type ImageRecord } from '../image/store';
import type { ConfigDirs } from '../trust/dirs';
import type { ImageManifest } from '../schema/aci';
import type { ImageRef, Request } from '../schema/protocol';
import type { RunSelinuxMode } from '../schema/selinux';
import { appFromManifest } from './app';
import type { AppArgs } from './app-args';
import type { PodFields } from './pod-flags';
import type { PodEnv } from './app-env';
import { defaultAppName, needsIdLookup, type PodApp } from './app-request';
import { HelperClient } from './client';
import { sealImage } from './seal';

import { ensureTree } from '../image/tree';
import { parseDns, parseNet, parsePorts } from './net-args';
import { isolatorsFor } from './isolator-args';

/** What ward run and ward prepare are asked for: the apps, and the pod-level flags (pod-flags.ts). */
export interface RunOptions extends Partial<PodFields> {
  /** The apps, as src/pod/app-args.ts parsed them from the command line. */
  apps: AppArgs[];
  /** --inherit-env, --set-env-file, --set-env. */
  env?: PodEnv;
  storeDir: string;
  socketPath: string;
  /** image, tls, http: only image concerns the helper, which checks it against its policy. */
  insecureOptions: string[];
  pullPolicy?: PullPolicy;
  /** The trust configuration dirs: the keystore for ACIs, the signature policy for OCI images. */
  config: ConfigDirs;
  /** --selinux; absent: the helper policy decides. */
  selinux?: RunSelinuxMode;
  /** --detach: return once the app has started; the pod keeps running under ward-stage1. */
  detach?: boolean;
}

/**
 * The image's verdict, from its record: a signer's fingerprint, or "unverified", which runs only
 * with --insecure-options=image (and the helper's consent, which it checks itself).
 */
function checkSignature(opts: RunOptions, rec: ImageRecord, image: string): ImageRef['signer'] {
  if (rec.signer !== 'unverified' && /^[0-9A-F]{40,64}$/.test(rec.signer)) return rec.signer;
  if (opts.insecureOptions.includes('image')) return 'unverified';
  throw new WardError('ESIGNATURE', `image ${image} is not verified (${rec.kind === 'aci' ? 'fetched with --insecure-options=image' : 'fetched with --insecure-options=image, or accepted by an insecureAcceptAnything policy'}); fetch it again with its signature from a trusted key (ward trust), or pass --insecure-options=image`);
}

/** ward prepare: the pod is made but not started; returns its uuid. */
export async function preparePod(opts: RunOptions): Promise<string> {
  return (await startOrPrepare(opts, 'prepare')) as string;
}

export async function runPod(opts: RunOptions): Promise<number> {
  return (await startOrPrepare(opts, 'run')) as number;
}

async function startOrPrepare(opts: RunOptions, verb: 'run' | 'prepare'): Promise<number | string> {

  // Loaded only when asked for: its schemas bring zod, which costs every other ward run ~40 ms.
  const volumeArgs = opts.volumes?.length || opts.mounts?.length || opts.apps.some((a) => a.flags.mounts.length) ? await import('./volume-args') : null;
  const volumes = volumeArgs ? volumeArgs.parseVolumes(opts.volumes ?? []) : [];
  if (volumeArgs) {
    (opts.mounts ?? []).forEach(volumeArgs.parseMount);
    for (const app of opts.apps) volumeArgs.checkAppMounts(app.image, app.flags.mounts);
  }
  const net = parseNet(opts.net);
  const dns = parseDns(opts);
  const store = new Store(opts.storeDir);
  store.init();
  const fetched: { rec: ImageRecord; signer: ImageRef['signer']; app: AppArgs }[] = [];
  for (const app of opts.apps) {
    let rec = await fetchImage(store, app.image, { pullPolicy: opts.pullPolicy ?? 'new', insecure: new Set(opts.insecureOptions), signer: 'unverified', config: opts.config });
    const signer = checkSignature(opts, rec, app.image);
    if (!rec.sealed) rec = { ...rec, sealed: await sealImage(store, rec, opts.socketPath) };
    fetched.push({ rec, signer, app });
  }
  const names = new Set<string>();
  const apps: PodApp[] = [];
  for (const { rec, signer, app } of fetched) {
    const manifest = rec.manifest as ImageManifest;

    // Names are looked up in the image's own rendered tree, only when a name is given.
    const rootfs = needsIdLookup(manifest, app.flags) ? path.join((await ensureTree(store, rec)).dir, 'rootfs') : undefined;
    // Pod-level --mount, --memory and --cpu apply to every app; an app's own come after its image.
    const mounts = volumeArgs ? volumeArgs.mountsFor(manifest, volumes, [...(opts.mounts ?? []), ...app.flags.mounts]) : [];
    const isolators = isolatorsFor(manifest, { memory: app.flags.memory ?? opts.memory, cpu: app.flags.cpu ?? opts.cpu });
    const spec = { ...appFromManifest(manifest, app.args ?? [], defaultAppName(manifest.name), { flags: app.flags, ...(opts.env ? { pod: opts.env } : {}), ...(rootfs ? { rootfs } : {}) }), ...(mounts.length ? { mounts } : {}), ...(isolators ? { isolators } : {}) };
    const name = spec.name ?? defaultAppName(manifest.name);
    if (names.has(name)) throw new WardError('EUSAGE', `two apps of this pod are named '${name}'; give each image its own --name`);
    names.add(name);
    apps.push({ tree: rec.sealed!, image: { name: rec.name, id: rec.id, signer, ...(rec.trustPolicy ? { trustPolicy: rec.trustPolicy } : {}) }, app: spec });
  }
  // --port NAME: a port of any app's image (the apps share the pod's network namespace).
  const ports = parsePorts(opts.ports, fetched.map(({ rec }) => rec.manifest as ImageManifest));
  const netFields = { ...(net ? { net } : {}), ...(ports.length ? { ports } : {}), ...dns };
  // Loaded only for --mds-register: its schema brings zod, which costs every other ward run ~40 ms.
  const mdsImages = opts.mdsRegister ? (await import('./mds')).mdsImagesOf(fetched.map(({ rec }) => ({ name: rec.name, manifest: rec.manifest as ImageManifest }))) : null;
  for (let attempt = 0; ; attempt++) {
    const client = new HelperClient(opts.socketPath);
    try {
      const body = { apps, ...(opts.hostname ? { hostname: opts.hostname } : {}), ...(volumes.length ? { volumes } : {}), insecureOptions: opts.insecureOptions.includes('image') ? ['image' as const] : [], ...(opts.selinux ? { selinux: opts.selinux } : {}), ...netFields, ...(mdsImages ? { mdsRegister: true, mdsImages } : {}) };
      if (verb === 'prepare') client.send({ verb: 'prepare', ...body } as Request);
      else if (opts.detach) sendDetached(client, { verb: 'run', ...body, detach: true } as Request);
      else client.send({ verb: 'run', ...body } as Request, [0, 1, 2]);
      const first = await client.receive();
      if (!first.ok) {
        // The helper's store was reset since we sealed: seal again, once.
        if (first.code === 'ENOTREE' && attempt === 0) {
          for (let i = 0; i < apps.length; i++) {
            const f = fetched[i]!;
            apps[i] = { ...apps[i]!, tree: await sealImage(store, f.rec, opts.socketPath) };
          }
          continue;
        }
        throw new WardError(first.code, first.message);
      }
      if (opts.uuidFileSave) saveUuid(opts.uuidFileSave, first.uuid as string);
      if (verb === 'prepare') return first.uuid as string;
      if (opts.detach) {
        process.stdout.write(`${first.uuid as string}\n`);
        return 0;
      }
      return await followPod(client);
    } finally {
      client.close();
    }
  }
}

/** A detached pod gets /dev/null for stdio: it must not hold the caller's terminal or pipes open. */
function sendDetached(client: HelperClient, req: Parameters<HelperClient['send']>[0]): void {
  const fds = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'w'), fs.openSync('/dev/null', 'w')];
  try {
    client.send(req, fds);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

function saveUuid(file: string, uuid: string): void {
  try {
    fs.writeFileSync(file, uuid + '\n', { mode: 0o644 });
  } catch (e) {
    throw new WardError('EUSAGE', `--uuid-file-save: cannot write ${file}: ${(e as Error).message}; the pod ${uuid} was made, see ward list`);
  }
}

/** ward run-prepared UUID [--detach]: starts a prepared pod; returns the app's exit status (0 when detached). */
export async function runPreparedPod(socketPath: string, uuid: string, detach: boolean): Promise<number> {
  const client = new HelperClient(socketPath);
  try {
    if (detach) sendDetached(client, { verb: 'run-prepared', uuid, detach: true });
    else client.send({ verb: 'run-prepared', uuid, detach: false }, [0, 1, 2]);
    const first = await client.receive();
    if (!first.ok) throw new WardError(first.code, first.message);
    if (detach) return 0;
    return await followPod(client);
  } finally {
    client.close();
  }
}

/** Forwards our signals to a foreground pod and waits for its exit status. */
export async function followPod(client: HelperClient): Promise<number> {
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
}
