// A `ward metadata-service` started by a test as root on a private socket and a free loopback
// port, and small HTTP clients for both of its sides.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WARD } from './env';

export interface HttpAnswer {
  status: number;
  type: string;
  body: string;
}

export class MdsProcess {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-mds-'));
  readonly socket = path.join(this.dir, 'run', 'metadata-svc.sock');
  port = 0;
  log = '';
  private child: ChildProcess | null = null;

  async start(extra: string[] = []): Promise<void> {
    this.log = '';
    const child = spawn(process.execPath, [WARD, 'metadata-service', '--listen-port', '0', '--listen-address', '127.0.0.1', '--socket', this.socket, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        this.log += d.toString();
        const m = /listening on [0-9.]+:(\d+)/.exec(this.log);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`metadata-service exited ${code}: ${this.log}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
  }

  async cleanup(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** A request on the registration socket. */
  register(method: 'PUT' | 'DELETE', urlPath: string, body?: string | Buffer, contentType = 'application/json'): Promise<HttpAnswer> {
    return request({ socketPath: this.socket, method, path: urlPath, headers: body === undefined ? {} : { 'Content-Type': contentType } }, body);
  }

  /** A request to the pods' side from a given source address. */
  query(from: string, urlPath: string, form?: Record<string, string>): Promise<HttpAnswer> {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    return request({ host: '127.0.0.1', port: this.port, localAddress: from, method: form ? 'POST' : 'GET', path: urlPath, headers: { 'Metadata-Flavor': 'AppContainer', ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) } }, body);
  }
}

export function request(opts: http.RequestOptions, body?: string | Buffer): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...opts, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function newSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}
