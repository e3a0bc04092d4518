// One caller's connection: framed requests in, framed responses out, fds checked.
//
// Nothing here blocks or holds a thread: the socket is watched on the event loop (watchFd), a
// request is read with non-blocking recvSome as its bytes arrive and answers are written with
// non-blocking sendSome as the socket takes them. A caller that stalls, or never reads, costs
// its own connection and nobody else anything.
//
// What waits in memory is bounded by construction: the next request is read only once every
// answer to the last one has been taken by the socket (so a caller that never reads stops being
// read, and at most one request's answers ever wait), and answers that wait SEND_STALL_MS with
// the caller taking none of them cost the connection. A verb answering in many frames (the TPM
// event log) can await drain() between them to keep even that to a frame or two.
import type { Socket } from 'node:net';
import { addon, type FdInfo, type FdWatcher } from '../native/addon';
import { MAX_REQUEST_BYTES, MAX_REQUEST_FDS, type ErrorCode } from '../schema/protocol';
import { HelperError } from './errors';
import type { Peer } from './peer';

/** Time a caller has to deliver a whole request once its first byte has arrived. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Time a connection may wait for its next request (receive's default). */
export const IDLE_TIMEOUT_MS = 5 * 60_000;
/** Time queued answers may wait for the caller to take any of them before the connection is dropped. */
export const SEND_STALL_MS = 10_000;

const HEADER_BYTES = 4;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Frame {
  data: Buffer;
  fds: number[];
}

/** The receive in progress: the frame read so far, and who waits for it. */
interface Reading {
  resolve(frame: Frame | null): void;
  reject(err: Error): void;
  header: Buffer;
  headerLength: number;
  body: Buffer | null;
  bodyLength: number;
  fds: number[];
  idleTimer: NodeJS.Timeout | null;
  frameTimer: NodeJS.Timeout | null;
}

function frameError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class Connection {
  readonly fd: number;
  private readonly watcher: FdWatcher;
  /** No more requests are read, no more answers queued (close() was called or the connection failed). */
  private closed = false;
  /** The watcher is closed and the socket destroyed. */
  private finished = false;
  private reading: Reading | null = null;
  /** Framed answers not yet taken by the socket; the first may be partly sent (outOffset). */
  private readonly out: Buffer[] = [];
  private outOffset = 0;
  /** fds to send with the frame at out index (key - outFdsBase); outFdsBase counts frames already shifted out. */
  private readonly outFds = new Map<number, number[]>();
  private outFdsBase = 0;
  private outBytes = 0;
  private stallTimer: NodeJS.Timeout | null = null;
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly socket: Socket, readonly peer: Peer) {
    this.fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
    this.watcher = addon().watchFd(this.fd, (readable, writable, error) => this.onEvent(readable, writable, error));
  }

  /**
   * The next request, or null once the caller has gone (or the connection was closed). Waits at
   * most idleTimeoutMs for a request to begin and REQUEST_TIMEOUT_MS for it to complete; rejects
   * with a coded Error (ETIMEDOUT, EFRAMETOOBIG, ETRUNCATED, ETOOMANYFDS, or an errno name) that
   * leaves the connection open for an error answer. The next request is read only once the
   * answers to the last one are all taken by the socket.
   */
  receive(idleTimeoutMs = IDLE_TIMEOUT_MS): Promise<Frame | null> {
    if (this.closed) return Promise.resolve(null);
    if (this.reading) return Promise.reject(frameError('EBUSY', 'a receive is already pending on this connection'));
    return new Promise<Frame | null>((resolve, reject) => {
      const r: Reading = { resolve, reject, header: Buffer.alloc(HEADER_BYTES), headerLength: 0, body: null, bodyLength: 0, fds: [], idleTimer: null, frameTimer: null };
      if (idleTimeoutMs < MAX_TIMER_MS) {
        r.idleTimer = setTimeout(() => this.failReading('ETIMEDOUT', `no request within ${idleTimeoutMs} ms`), Math.max(0, idleTimeoutMs));
      }
      this.reading = r;
      this.updateInterest();
    });
  }

  /**
   * Queues an answer carrying fds (they ride with its first byte). The connection owns them from
   * here: it closes them once they are sent, or when the answer is dropped.
   */
  sendWithFds(msg: object, fds: number[]): void {
    if (this.closed) {
      closeFds(fds);
      return;
    }
    this.outFds.set(this.out.length + this.outFdsBase, fds);
    this.send(msg);
  }

  /** Queues an answer; it is written as the socket takes it, never waiting here. */
  send(msg: object): void {
    if (this.closed) return;
    const body = Buffer.from(JSON.stringify(msg));
    const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
    frame.writeUInt32BE(body.length, 0);
    body.copy(frame, HEADER_BYTES);
    this.out.push(frame);
    this.outBytes += frame.length;
    this.flush();
  }

  sendError(code: ErrorCode, message: string): void {
    this.send({ ok: false, code, message: oneLine(message) });
  }

  /** Bytes of answers queued and not yet taken by the socket. */
  get queuedBytes(): number {
    return this.outBytes;
  }

  /** Resolves once every queued answer is taken by the socket, or the connection is gone. */
  drain(): Promise<void> {
    if (this.outBytes === 0 || this.finished) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Ends the connection: a pending receive resolves null, nothing more is read or queued, and
   * the socket is closed once the answers already queued are written (or SEND_STALL_MS passes
   * with the caller taking none of them).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.endReading(null);
    if (this.outBytes === 0) this.finish();
    else this.updateInterest();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private onEvent(readable: boolean, writable: boolean, error: boolean): void {
    if (this.finished) return;
    if (writable || error) this.flush();
    if ((readable || error) && this.reading && this.outBytes === 0) this.readSome();
    this.updateInterest();
  }

  /** Reads what the socket holds of the pending request, exactly up to its end (the next frame stays in the socket). */
  private readSome(): void {
    for (;;) {
      const r = this.reading;
      if (!r || this.closed) return;
      const inHeader = r.headerLength < HEADER_BYTES;
      const want = inHeader ? HEADER_BYTES - r.headerLength : r.body!.length - r.bodyLength;
      let chunk;
      try {
        chunk = addon().recvSome(this.fd, want, MAX_REQUEST_FDS);
      } catch (e) {
        const code = (e as { code?: string }).code ?? 'EIO';
        this.failReading(code, `recv: ${(e as Error).message}`);
        return;
      }
      r.fds.push(...chunk.fds);
      if (r.fds.length > MAX_REQUEST_FDS) {
        this.failReading('ETOOMANYFDS', `recv: peer sent ${r.fds.length} fds, the limit is ${MAX_REQUEST_FDS}`);
        return;
      }
      if (chunk.eof) {
        if (r.headerLength === 0) this.endReading(null);
        else if (inHeader) this.failReading('ETRUNCATED', `recv: connection closed after ${r.headerLength} of ${HEADER_BYTES} header bytes`);
        else this.failReading('ETRUNCATED', `recv: connection closed after ${r.bodyLength} of ${r.body!.length} payload bytes`);
        return;
      }
      const n = chunk.data.length;
      if (n === 0) return; // nothing more yet: the watcher tells us when there is
      if (r.headerLength === 0 && r.frameTimer === null) {
        if (r.idleTimer) clearTimeout(r.idleTimer);
        r.idleTimer = null;
        r.frameTimer = setTimeout(() => this.failReading('ETIMEDOUT', `recv: no complete frame within ${REQUEST_TIMEOUT_MS} ms`), REQUEST_TIMEOUT_MS);
      }
      if (inHeader) {
        chunk.data.copy(r.header, r.headerLength);
        r.headerLength += n;
        if (r.headerLength < HEADER_BYTES) continue;
        const length = r.header.readUInt32BE(0);
        if (length > MAX_REQUEST_BYTES) {
          this.failReading('EFRAMETOOBIG', `recv: frame of ${length} bytes exceeds the limit of ${MAX_REQUEST_BYTES}`);
          return;
        }
        r.body = Buffer.alloc(length);
      } else {
        chunk.data.copy(r.body!, r.bodyLength);
        r.bodyLength += n;
      }
      if (r.bodyLength === r.body!.length) {
        const frame = { data: r.body!, fds: r.fds };
        r.fds = [];
        this.endReading(frame);
        return;
      }
    }
  }

  /** Ends the pending receive: its timers stop and the fds of a frame never delivered are closed. */
  private takeReading() {
    const r = this.reading;
    if (!r) return null;
    this.reading = null;
    if (r.idleTimer) clearTimeout(r.idleTimer);
    if (r.frameTimer) clearTimeout(r.frameTimer);
    closeFds(r.fds);
    r.fds = [];
    return r;
  }

  /** Settles the pending receive with a frame or null; fds of a frame never delivered are closed. */
  private endReading(frame: Frame | null): void {
    const r = this.takeReading();
    if (!r) return;
    r.resolve(frame);
    this.updateInterest();
  }

  private failReading(code: string, message: string): void {
    const r = this.takeReading();
    if (!r) return;
    r.reject(frameError(code, message));
    this.updateInterest();
  }

  /** Writes queued answers while the socket takes them; a failed write ends the connection. */
  private flush(): void {
    let progress = false;
    while (this.out.length > 0 && !this.finished) {
      const head = this.out[0]!;
      const rest = this.outOffset > 0 ? head.subarray(this.outOffset) : head;
      const fds = this.outOffset === 0 ? (this.outFds.get(this.outFdsBase) ?? []) : [];
      let n: number;
      try {
        n = addon().sendSome(this.fd, rest, fds);
      } catch {
        this.abort(); // EPIPE, ECONNRESET: the caller is gone
        return;
      }
      if (n === 0) break;
      if (fds.length > 0) {
        closeFds(fds); // sent: the caller has its own copies
        this.outFds.delete(this.outFdsBase);
      }
      progress = true;
      this.outBytes -= n;
      if (n === rest.length) {
        this.out.shift();
        this.outFdsBase++;
        this.outOffset = 0;
      } else {
        this.outOffset += n;
      }
    }
    if (this.finished) return;
    if (this.outBytes === 0) {
      if (this.stallTimer) clearTimeout(this.stallTimer);
      this.stallTimer = null;
      this.wakeDrainWaiters();
      if (this.closed) {
        this.finish();
        return;
      }
    } else if (!this.stallTimer) {
      this.stallTimer = setTimeout(() => {
        process.stderr.write(`ward-helper: dropping a connection of uid ${this.peer.uid} (pid ${this.peer.pid}): no answer taken for ${SEND_STALL_MS} ms\n`);
        this.abort();
      }, SEND_STALL_MS);
    } else if (progress) {
      this.stallTimer.refresh();
    }
    this.updateInterest();
  }

  /** Reading only for a pending receive whose previous answers are all written; writing while answers wait. */
  private updateInterest(): void {
    if (this.finished) return;
    this.watcher.setInterest(this.reading !== null && !this.closed && this.outBytes === 0, this.outBytes > 0);
  }

  /** Drops the connection now: queued answers are discarded, a pending receive resolves null. */
  private abort(): void {
    this.closed = true;
    this.out.length = 0;
    for (const fds of this.outFds.values()) closeFds(fds);
    this.outFds.clear();
    this.outOffset = 0;
    this.outBytes = 0;
    this.endReading(null);
    this.finish();
  }

  /** Stops the watcher before the fd is closed (see watchFd), then closes the socket. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.closed = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.watcher.close();
    try {
      addon().shutdown(this.fd); // the caller sees EOF even if a copy of the fd lives on somewhere
    } catch {
      /* already disconnected */
    }
    this.socket.destroy();
    this.wakeDrainWaiters();
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
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
