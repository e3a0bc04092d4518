// `ward metadata-service`: the pods' HTTP side on a TCP port and the helper's registration side
// on a Unix socket, sharing one registry of pods and one HMAC key (random at start: signatures
// do not outlive the service, and nothing of it is ever written to disk).
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { PodSigner } from './hmac';
import { PodRegistry } from './pod-registry';
import { handlePublic } from './public';
import { handleRegistration } from './registration';

export interface MdsOptions {
  /** TCP port for the pods (0: any free port, reported by address()). */
  port: number;
  /** Address to listen on for the pods (default every IPv4 address, as rkt's). */
  host: string;
  socketPath: string;
  /** Who may register: root in production. */
  peerUid: number;
  peerUidOf: (socket: net.Socket) => number | null;
  log: (line: string) => void;
}

export interface MetadataService {
  readonly port: number;
  readonly pods: PodRegistry;
  close(): Promise<void>;
}

// Slow or idle clients cannot hold the service: short header, request and idle limits.
const SERVER_LIMITS = { maxHeaderSize: 8192, requestTimeout: 5000, headersTimeout: 3000, keepAliveTimeout: 5000 };

function fail(res: http.ServerResponse, log: (l: string) => void, e: unknown): void {
  log(`internal error: ${(e as Error).message}`);
  if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=us-ascii', Connection: 'close' });
  res.end('internal error\n');
}

/** Binds the socket; one that exists is replaced only if it is a socket nobody listens on. */
async function listenUnix(server: http.Server, socketPath: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    st = null;
  }
  if (st) {
    if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; remove it or pass another --socket`);
    const live = await new Promise<boolean>((resolve) => {
      const c = require('node:net').connect(socketPath) as net.Socket;
      c.once('connect', () => { c.destroy(); resolve(true); });
      c.once('error', () => resolve(false));
    });
    if (live) throw new Error(`a metadata service already listens on ${socketPath}`);
    fs.unlinkSync(socketPath);
  }
  // Created 0600 from the start: no moment where another user could connect.
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => { server.off('error', reject); resolve(); });
    });
  } finally {
    process.umask(old);
  }
}

export async function startMetadataService(opts: MdsOptions): Promise<MetadataService> {
  const pods = new PodRegistry();
  const signer = new PodSigner();
  const pub = http.createServer(SERVER_LIMITS, (req, res) => {
    handlePublic({ pods, signer, log: opts.log }, req, res).catch((e) => fail(res, opts.log, e));
  });
  const reg = http.createServer(SERVER_LIMITS, (req, res) => {
    handleRegistration({ pods, log: opts.log, peerUid: opts.peerUid, peerUidOf: opts.peerUidOf }, req, res).catch((e) => fail(res, opts.log, e));
  });
  pub.maxConnections = 4096;
  reg.maxConnections = 64;
  await listenUnix(reg, opts.socketPath);
  try {
    await new Promise<void>((resolve, reject) => {
      pub.once('error', reject);
      pub.listen(opts.port, opts.host, () => { pub.off('error', reject); resolve(); });
    });
  } catch (e) {
    reg.close();
    fs.rmSync(opts.socketPath, { force: true });
    throw new Error(`cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}`);
  }
  const port = (pub.address() as net.AddressInfo).port;
  return {
    port,
    pods,
    async close() {
      pub.closeAllConnections();
      reg.closeAllConnections();
      await Promise.all([new Promise((r) => pub.close(r)), new Promise((r) => reg.close(r))]);
      fs.rmSync(opts.socketPath, { force: true });
    },
  };
}
