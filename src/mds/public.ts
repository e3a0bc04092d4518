// What apps reach at AC_METADATA_URL: $AC_METADATA_URL/acMetadata/v1/{pod,apps/<name>}/...
// (appc ace.md). Every request is answered for the pod it comes from and no other: the first path
// segment is the pod's secret, and the peer address must be one the pod was registered with.
// A request that is not identified gets 403 and the same short body whatever was wrong.
import type http from 'node:http';
import { AppcAcName } from '../schema/appc-app';
import { MDS_MAX_FORM_BYTES } from '../schema/mds';
import { PodUuid } from '../schema/protocol';
import { answer, BodyTooLarge, readBody } from './body';
import type { PodSigner } from './hmac';
import type { MdsPod, PodRegistry } from './pod-registry';

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=us-ascii';
const ANNOTATION_NAME = /^[a-z0-9]+([-._~/@:+][a-z0-9]+)*$/;

export interface PublicContext {
  pods: PodRegistry;
  signer: PodSigner;
  log: (line: string) => void;
}

function refuse(res: http.ServerResponse, status: number, why: string, close = false): void {
  answer(res, status, TEXT_TYPE, `${why}\n`, close);
}

function json(res: http.ServerResponse, value: unknown): void {
  answer(res, 200, JSON_TYPE, JSON.stringify(value));
}

function annotation(res: http.ServerResponse, list: { name: string; value: string }[], name: string): void {
  if (!ANNOTATION_NAME.test(name)) return refuse(res, 400, 'not an annotation name (AC Identifier)');
  const found = list.find((a) => a.name === name);
  if (!found) return refuse(res, 404, 'no such annotation');
  answer(res, 200, TEXT_TYPE, found.value);
}

/** A form with each field at most once; null when malformed. */
function readForm(body: Buffer, fields: string[]): Record<string, string> | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return null;
  }
  const params = new URLSearchParams(text);
  const out: Record<string, string> = {};
  for (const [k, v] of params) {
    if (!fields.includes(k) || k in out) return null;
    out[k] = v;
  }
  return out;
}

function getPod(res: http.ServerResponse, pod: MdsPod, rest: string[]): void {
  const [what, ...more] = rest;
  const annotations = pod.manifest.annotations ?? [];
  if (what === 'annotations' && (more.length === 0 || (more.length === 1 && more[0] === ''))) return json(res, annotations);
  if (what === 'annotations' && more.length === 1) return annotation(res, annotations, more[0]!);
  if (more.length > 0) return refuse(res, 404, 'no such endpoint');
  if (what === 'manifest') return json(res, pod.manifest);
  if (what === 'uuid') return answer(res, 200, TEXT_TYPE, pod.uuid);
  refuse(res, 404, 'no such endpoint');
}

function getApp(res: http.ServerResponse, pod: MdsPod, rest: string[]): void {
  const [name, ...more] = rest;
  if (!name || !AppcAcName.safeParse(name).success) return refuse(res, 400, 'not an app name (ACName)');
  const app = pod.apps.get(name);
  if (!app) return refuse(res, 404, 'no such app in this pod');
  const route = more.join('/');
  if (route === 'annotations' || route === 'annotations/') return json(res, app.annotations);
  if (more.length === 2 && more[0] === 'annotations') return annotation(res, app.annotations, more[1]!);
  if (route === 'image/manifest') return answer(res, 200, JSON_TYPE, app.imageManifest);
  if (route === 'image/id') return answer(res, 200, TEXT_TYPE, app.imageId);
  refuse(res, 404, 'no such endpoint');
}

async function postHmac(ctx: PublicContext, req: http.IncomingMessage, res: http.ServerResponse, pod: MdsPod, what: string): Promise<void> {
  if (what !== 'sign' && what !== 'verify') return refuse(res, 404, 'no such endpoint');
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return refuse(res, 415, 'post a form (application/x-www-form-urlencoded)', true);
  let body: Buffer;
  try {
    body = await readBody(req, MDS_MAX_FORM_BYTES);
  } catch (e) {
    if (e instanceof BodyTooLarge) return refuse(res, 413, `the form is larger than ${MDS_MAX_FORM_BYTES} bytes`, true);
    throw e;
  }
  if (what === 'sign') {
    const form = readForm(body, ['content']);
    if (!form?.content) return refuse(res, 400, 'post content=<what to sign>');
    return answer(res, 200, TEXT_TYPE, ctx.signer.sign(pod.uuid, form.content));
  }
  const form = readForm(body, ['content', 'uuid', 'signature']);
  if (!form?.content || !form.signature || !PodUuid.safeParse(form.uuid).success) return refuse(res, 400, 'post content, uuid (a pod uuid) and signature');
  if (!ctx.signer.verify(form.uuid!, form.content, form.signature)) return refuse(res, 403, 'signature does not verify');
  answer(res, 200, TEXT_TYPE, '');
}

export async function handlePublic(ctx: PublicContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '';
  // Origin-form only ("/..."), no query: nothing here takes one.
  if (!url.startsWith('/') || url.includes('?') || url.includes('#')) return refuse(res, 404, 'no such endpoint');
  let parts: string[];
  try {
    parts = url.slice(1).split('/').map((p) => decodeURIComponent(p));
  } catch {
    return refuse(res, 400, 'malformed path');
  }
  const [secret, ac, v1, scope, ...rest] = parts;
  const pod = secret ? ctx.pods.identify(secret, req.socket.remoteAddress) : null;
  if (!pod) {
    ctx.log(`refused ${req.method} from ${req.socket.remoteAddress}: not a registered pod's secret and address`);
    return refuse(res, 403, 'forbidden', true);
  }
  if (ac !== 'acMetadata' || v1 !== 'v1') return refuse(res, 404, 'no such endpoint');
  if (req.method === 'GET' || req.method === 'HEAD') {
    if (scope === 'pod') return getPod(res, pod, rest);
    if (scope === 'apps') return getApp(res, pod, rest);
    return refuse(res, 404, 'no such endpoint');
  }
  if (req.method === 'POST' && scope === 'pod' && rest.length === 2 && rest[0] === 'hmac') return postHmac(ctx, req, res, pod, rest[1]!);
  refuse(res, 405, 'method not allowed here', true);
}
