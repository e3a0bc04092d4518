// The frontend's side of the pod verbs: list, status, stop, rm, gc, cat-manifest. The helper
// decides what the caller may see and touch; this file asks, checks the answers' shape, and
// turns a uuid prefix into the one pod of the caller's it names.
import type { z } from 'zod';
import { WardError } from '../schema/errors';
import type { AppcPodManifest } from '../schema/appc-pod';
import type { PodInfo } from '../schema/pod';
import type { Request } from '../schema/protocol';
import { HelperClient } from './client';

/** The answer schemas, loaded only when a pod command runs: they pull in zod (ward's start-up budget). */
const schemas = () => import('../schema/pod');

async function ask<T extends z.ZodType>(socketPath: string, req: Request, schema: T): Promise<z.infer<T>> {
  const c = new HelperClient(socketPath);
  try {
    const reply = await c.call(req);
    const parsed = schema.safeParse(reply);
    if (!parsed.success) throw new WardError('EHELPER', `the ward helper sent a malformed answer to ${req.verb}; see its log`);
    return parsed.data;
  } finally {
    c.close();
  }
}

export async function listPods(socketPath: string): Promise<PodInfo[]> {
  return (await ask(socketPath, { verb: 'list' }, (await schemas()).PodListResponse)).pods;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A full uuid as is; a prefix (as rkt takes) must name exactly one of the pods the caller sees. */
export async function resolveUuid(socketPath: string, given: string): Promise<string> {
  const arg = given.toLowerCase();
  if (UUID_RE.test(arg)) return arg;
  if (!/^[0-9a-f-]{1,36}$/.test(arg)) throw new WardError('EUSAGE', `'${given}' is not a pod uuid or a prefix of one`);
  const matches = (await listPods(socketPath)).filter((p) => p.uuid.startsWith(arg));
  if (matches.length === 1) return matches[0]!.uuid;
  if (matches.length === 0) throw new WardError('ENOPOD', `no pod of yours has a uuid starting with ${given}; see ward list`);
  throw new WardError('EUSAGE', `${given} is the start of ${matches.length} pods' uuids; give more of it`);
}

export async function podStatus(socketPath: string, uuid: string, wait: boolean): Promise<PodInfo> {
  return (await ask(socketPath, { verb: 'status', uuid, wait }, (await schemas()).PodStatusResponse)).pod;
}

export async function stopPod(socketPath: string, uuid: string, force: boolean): Promise<void> {
  await ask(socketPath, { verb: 'stop', uuid, force }, (await schemas()).PodDoneResponse);
}

export async function removePod(socketPath: string, uuid: string): Promise<void> {
  await ask(socketPath, { verb: 'rm', uuid }, (await schemas()).PodDoneResponse);
}

export async function gcPods(socketPath: string, opts: { gracePeriod: number; expirePrepared: number; markOnly: boolean }): Promise<{ marked: string[]; removed: string[] }> {
  const r = await ask(socketPath, { verb: 'gc', ...opts }, (await schemas()).PodGcResponse);
  return { marked: r.marked, removed: r.removed };
}

export async function podManifest(socketPath: string, uuid: string): Promise<AppcPodManifest> {
  return (await ask(socketPath, { verb: 'cat-manifest', uuid }, (await schemas()).PodManifestResponse)).manifest;
}

/** Durations as rkt takes them (Go's time.ParseDuration subset): 30m, 1h30m, 10s, 0. Seconds. */
export function parseDuration(flag: string, value: string): number {
  if (value === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(h|m|s|ms)/g;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    if (m.index !== consumed) break;
    consumed += m[0].length;
    total += Number(m[1]) * { h: 3600, m: 60, s: 1, ms: 0.001 }[m[2] as 'h' | 'm' | 's' | 'ms'];
  }
  if (consumed !== value.length || value.length === 0) throw new WardError('EUSAGE', `${flag}=${value}: not a duration; write it like 30m, 1h30m, 45s or 0`);
  return Math.floor(total);
}
