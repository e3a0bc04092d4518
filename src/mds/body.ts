// Request bodies with a bound: a body over max bytes is answered 413 and the connection closed,
// without reading the rest.
import type http from 'node:http';

export class BodyTooLarge extends Error {}

export function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > max) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Sends a short answer; a refusal also ends the connection so no more of its body is read. */
export function answer(res: http.ServerResponse, status: number, contentType: string, body: string | Buffer, close = false): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': bytes.length, ...(close ? { Connection: 'close' } : {}) });
  res.end(bytes);
}
