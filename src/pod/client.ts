// The frontend's side of the helper protocol. Every answer is parsed with the protocol schema.
import { addon } from '../native/addon';
import type { ImageRef, Request } from '../schema/protocol';
import { MAX_RESPONSE_BYTES } from '../schema/protocol-limits';
import { WardError } from '../schema/errors';

export const DEFAULT_SOCKET = '/run/ward/helper.sock';
const REPLY_TIMEOUT_MS = 10 * 60 * 1000;

export type HelperReply = { ok: true; [k: string]: unknown } | { ok: false; code: string; message: string };

export class HelperClient {
  private fd: number;

  constructor(readonly socketPath: string) {
    try {
      this.fd = addon().connectUnix(socketPath);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new WardError('EDENIED', `you may not connect to the ward helper at ${socketPath} (permission denied); ask an administrator to add you to group ward (usermod -aG ward $USER) and log in again`);
      }
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        throw new WardError('EHELPER', `no ward helper is listening at ${socketPath}; start it (systemctl start ward-helper.socket, or npm run demo for a private one) or pass --helper-socket`);
      }
      throw new WardError('EHELPER', `cannot reach the ward helper at ${socketPath}: ${(e as Error).message}`);
    }
  }

  send(req: Request, fds: number[] = []): void {
    addon().sendFrame(this.fd, Buffer.from(JSON.stringify(req)), fds, 10_000);
  }

  async receive(timeoutMs = REPLY_TIMEOUT_MS): Promise<HelperReply> {
    return (await this.receiveWithFds(0, timeoutMs)).reply;
  }

  /** An answer that may carry up to maxFds fds (ward export's mount); the caller owns and closes them. */
  async receiveWithFds(maxFds: number, timeoutMs = REPLY_TIMEOUT_MS): Promise<{ reply: HelperReply; fds: number[] }> {
    let frame;
    try {
      frame = await addon().recvFrame(this.fd, MAX_RESPONSE_BYTES, maxFds, timeoutMs);
    } catch (e) {
      throw new WardError('EHELPER', `the ward helper's answer could not be read (${(e as { code?: string }).code ?? (e as Error).message}); see its log`);
    }
    if (frame === null) throw new WardError('EHELPER', 'the ward helper closed the connection without answering; see its log');
    const reply = JSON.parse(frame.data.toString('utf8')) as HelperReply;
    if (typeof reply !== 'object' || reply === null || typeof reply.ok !== 'boolean') {
      for (const fd of frame.fds) addon().close(fd);
      throw new WardError('EHELPER', 'the ward helper sent a malformed answer');
    }
    return { reply, fds: frame.fds };
  }

  async call(req: Request, fds: number[] = []): Promise<Record<string, unknown>> {
    this.send(req, fds);
    const reply = await this.receive();
    if (!reply.ok) throw new WardError(reply.code, reply.message);
    return reply;
  }

  close(): void {
    try {
      addon().close(this.fd);
    } catch {
      /* closed */
    }
  }
}

export async function sealTree(socketPath: string, image: ImageRef, rootfsFd: number): Promise<string> {
  const c = new HelperClient(socketPath);
  try {
    const r = await c.call({ verb: 'seal', image }, [rootfsFd]);
    return r.tree as string;
  } finally {
    c.close();
  }
}
