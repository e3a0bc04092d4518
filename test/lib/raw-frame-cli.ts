// Sends one raw frame to ward-helper and prints what came back, as one JSON line. Run under
// setpriv as a test user so the helper sees a real process of that user (test/lib/raw-client.ts).
//   raw-frame-cli SOCKET HEX [FD...]     FD: PATH:r | PATH:w | PATH:path (O_PATH) | PATH:dir
// Prints {"kind":"frame","hex":...}, {"kind":"closed","how":...} or {"kind":"error","code":...,"message":...}.
import fs from 'node:fs';
import { addon } from '../../src/native/addon';
import { MAX_RESPONSE_BYTES } from '../../src/schema/protocol-limits';

function openSpec(spec: string): number {
  const i = spec.lastIndexOf(':');
  const file = spec.slice(0, i);
  const mode = spec.slice(i + 1);
  if (mode === 'r') return fs.openSync(file, 'r');
  if (mode === 'w') return fs.openSync(file, 'w');
  if (mode === 'path') return fs.openSync(file, 0o10000000);
  if (mode === 'dir') return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  throw new Error(`bad fd spec ${spec}`);
}

async function main(): Promise<void> {
  const [socketPath, hex, ...specs] = process.argv.slice(2);
  if (!socketPath || hex === undefined) {
    process.stderr.write('usage: raw-frame-cli SOCKET HEX [PATH:r|w|path|dir ...]\n');
    process.exit(2);
  }
  const print = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  let fd: number;
  try {
    fd = addon().connectUnix(socketPath);
  } catch (e) {
    print({ kind: 'error', code: (e as { code?: string }).code ?? 'EIO', message: (e as Error).message });
    return;
  }
  const fds = specs.map(openSpec);
  try {
    addon().sendFrame(fd, Buffer.from(hex, 'hex'), fds, 10_000);
  } catch (e) {
    print({ kind: 'error', code: (e as { code?: string }).code ?? 'EIO', message: (e as Error).message });
    return;
  }
  for (const f of fds) fs.closeSync(f);
  try {
    const frame = await addon().recvFrame(fd, MAX_RESPONSE_BYTES, 0, 20_000);
    print(frame === null ? { kind: 'closed', how: 'EOF' } : { kind: 'frame', hex: frame.data.toString('hex') });
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'EIO';
    print(code === 'ECONNRESET' ? { kind: 'closed', how: code } : { kind: 'error', code, message: (e as Error).message });
  } finally {
    addon().close(fd);
  }
}

void main();
