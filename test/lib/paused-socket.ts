// A Unix socket server whose accepted sockets stay paused (libuv reads nothing), as ward-helper
// holds its callers; the client end is a blocking fd from the addon's connectUnix, as ward's.
// Shared by the native socket tests and the helper connection tests.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Addon } from '../../src/native/addon';

export interface SocketConn {
  /** Client end: a blocking fd from connectUnix. */
  cfd: number;
  /** Server end: the non-blocking fd of the paused libuv socket. */
  sfd: number;
  sock: net.Socket;
  closeClient(): void;
  close(): void;
}

export class PausedServer {
  private tmp = '';
  private server: net.Server | null = null;
  private readonly waiting: ((s: net.Socket) => void)[] = [];
  socketPath = '';

  /** The server's private temp dir, for a test's own files. */
  get dir(): string {
    return this.tmp;
  }

  constructor(private readonly native: Pick<Addon, 'connectUnix' | 'close'>) {}

  async start(): Promise<void> {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-sock-'));
    this.socketPath = path.join(this.tmp, 'ctl.sock');
    this.server = net.createServer({ pauseOnConnect: true }, (s) => {
      s.on('error', () => undefined);
      const take = this.waiting.shift();
      if (take) take(s);
      else s.destroy();
    });
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  /** The next accepted socket. */
  accepted(): Promise<net.Socket> {
    return new Promise<net.Socket>((resolve) => this.waiting.push(resolve));
  }

  async connect(): Promise<SocketConn> {
    const next = this.accepted();
    const cfd = this.native.connectUnix(this.socketPath);
    const sock = await next;
    const sfd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    let clientOpen = true;
    const closeClient = (): void => {
      if (clientOpen) {
        clientOpen = false;
        this.native.close(cfd);
      }
    };
    return {
      cfd,
      sfd,
      sock,
      closeClient,
      close() {
        closeClient();
        sock.destroy();
      },
    };
  }
}

export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** The open-file flags of fd as the kernel reports them (O_CLOEXEC included). */
export function fdFlags(fd: number): number {
  const m = /^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m?.[1]) throw new Error(`no flags line for fd ${fd}`);
  return parseInt(m[1], 8);
}
