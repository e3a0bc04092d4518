// One caller's connection: framed requests in, framed responses out, fds checked.
import type { Socket } from 'node:net';
import { addon, type FdInfo } from '../native/addon';
import { MAX_REQUEST_BYTES, MAX_REQUEST_FDS, type ErrorCode } from '../schema/protocol';
import { HelperError } from './errors';
import type { Peer } from './peer';

/** Time a caller has to deliver a whole request once it has connected or been answered. */
export const REQUEST_TIMEOUT_MS = 30_000;
const SEND_TIMEOUT_MS = 10_000;

export class Connection {
  readonly fd: number;
  private closed = false;

  constructor(private readonly socket: Socket, readonly peer: Peer) {
    this.fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  }

  async receive(timeoutMs = REQUEST_TIMEOUT_MS): Promise<{ data: Buffer; fds: number[] } | null> {
    return addon().recvFrame(this.fd, MAX_REQUEST_BYTES, MAX_REQUEST_FDS, timeoutMs);
  }

  send(msg: object): void {
    if (this.closed) return;
    try {
      addon().sendFrame(this.fd, Buffer.from(JSON.stringify(msg)), [], SEND_TIMEOUT_MS);
    } catch {
      this.close();
    }
  }

  sendError(code: ErrorCode, message: string): void {
    this.send({ ok: false, code, message: oneLine(message) });
  }

  /** Wakes any pending receive first, so no worker reads a reused fd number. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      addon().shutdown(this.fd);
    } catch {
      /* already disconnected */
    }
    setImmediate(() => this.socket.destroy());
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** Messages may quote request text (a verb, a key): keep them one line of printable text. */
export function oneLine(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function closeFds(fds: number[]): void {
  for (const fd of fds) {
    try {
      addon().close(fd);
    } catch {
      /* closed already */
    }
  }
}

/** Checks that a received fd is an stdio stream: a file, pipe, socket or terminal, readable or writable as needed. */
export function checkStdioFd(fd: number, which: 'stdin' | 'stdout' | 'stderr'): FdInfo {
  const info = addon().fdInfo(fd);
  const okType = info.type === 'file' || info.type === 'fifo' || info.type === 'socket' || info.type === 'char';
  const okMode = which === 'stdin' ? info.accmode !== 1 : info.accmode !== 0;
  if (!okType || info.opath || !okMode) {
    throw new HelperError('EFRAME', `the ${which} fd passed is a ${info.opath ? 'O_PATH handle' : info.type}${okMode ? '' : ' opened the wrong way'}; pass a file, pipe, socket or terminal`);
  }
  return info;
}
