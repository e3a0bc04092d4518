// The registration side: an HTTP server on a Unix socket that only root can reach (the socket is
// 0600 root's, and each connection's peer is checked with SO_PEERCRED besides). The helper
// registers a pod after its network is attached (PUT /pods/<uuid>) and unregisters it when the
// pod stops or is removed (DELETE /pods/<uuid>). Bodies are bounded and parsed strictly.
import type http from 'node:http';
import type net from 'node:net';
import { MDS_MAX_REGISTRATION_BYTES, MdsRegistration } from '../schema/mds';
import { PodUuid } from '../schema/protocol';
import { parseStrictJson } from '../schema/strict-json';
import { answer, BodyTooLarge, readBody } from './body';
import type { PodRegistry } from './pod-registry';

const TEXT = 'text/plain; charset=utf-8';

export interface RegistrationContext {
  pods: PodRegistry;
  log: (line: string) => void;
  /** The uid a peer must have (root, or the service's own uid in tests). */
  peerUid: number;
  peerUidOf: (socket: net.Socket) => number | null;
}

function reply(res: http.ServerResponse, status: number, line: string, close = false): void {
  answer(res, status, TEXT, `${line}\n`, close);
}

function issues(e: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return e.issues.slice(0, 3).map((i) => `${i.path.map(String).join('.') || '(registration)'}: ${i.message}`).join('; ');
}

export async function handleRegistration(ctx: RegistrationContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const uid = ctx.peerUidOf(req.socket);
  if (uid !== ctx.peerUid) {
    ctx.log(`refused a registration request from uid ${uid}`);
    return reply(res, 403, 'only the ward helper registers pods', true);
  }
  const m = /^\/pods\/([^/?#]+)$/.exec(req.url ?? '');
  if (!m || !PodUuid.safeParse(m[1]).success) return reply(res, 404, 'use PUT or DELETE /pods/<pod uuid>', true);
  const uuid = m[1]!;
  if (req.method === 'DELETE') {
    const had = ctx.pods.unregister(uuid);
    if (had) ctx.log(`unregistered pod ${uuid}`);
    return had ? reply(res, 200, `unregistered ${uuid}`) : reply(res, 404, `pod ${uuid} is not registered`);
  }
  if (req.method !== 'PUT') return reply(res, 405, 'use PUT or DELETE', true);
  if ((req.headers['content-type'] ?? '').split(';')[0]!.trim() !== 'application/json') return reply(res, 415, 'send the registration as application/json', true);
  let body: Buffer;
  try {
    body = await readBody(req, MDS_MAX_REGISTRATION_BYTES);
  } catch (e) {
    if (e instanceof BodyTooLarge) return reply(res, 413, `a registration is at most ${MDS_MAX_REGISTRATION_BYTES} bytes`, true);
    throw e;
  }
  let parsed;
  try {
    parsed = MdsRegistration.safeParse(parseStrictJson(body));
  } catch (e) {
    return reply(res, 400, `malformed registration: ${(e as Error).message}`);
  }
  if (!parsed.success) return reply(res, 400, `malformed registration: ${issues(parsed.error)}`);
  if (parsed.data.uuid !== uuid) return reply(res, 400, 'malformed registration: uuid differs from the path');
  const result = ctx.pods.register(parsed.data);
  if (result !== 'registered') return reply(res, 409, result === 'uuid-taken' ? `pod ${uuid} is registered already` : 'that secret is in use by another pod');
  ctx.log(`registered pod ${uuid} (${parsed.data.apps.length} app(s), ${parsed.data.addresses.join(' ')})`);
  reply(res, 201, `registered ${uuid}`);
}
