// ward export's reader: runs as root of the caller's own user namespace (container ids 0..65535
// mapped to the caller's subordinate range, as the extractor), never with host privilege. fd 3 is
// the exited pod's root filesystem, a read-only detached mount the helper handed over; stdin is
// the image manifest to put first; stdout gets the ACI (manifest + rootfs/) as a tar with the
// pod's own ids. Symlinks are written as links and never followed; devices and sockets are left out.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

// The mount's root: through the fd's magic link (lstat of the link itself would see a symlink).
const ROOT = '/proc/self/fd/3/.';

async function main(): Promise<void> {
  const manifest = fs.readFileSync(0);
  const pack = tar.pack();
  const out = new Promise<void>((res, rej) => {
    pack.on('error', rej);
    process.stdout.on('error', rej);
    process.stdout.on('finish', res);
  });
  (pack as unknown as Readable).pipe(process.stdout);
  const entry = (h: Partial<tar.Header> & { name: string }, body?: string | Buffer) =>
    new Promise<void>((res, rej) => {
      const cb = (e?: Error | null) => (e ? rej(e) : res());
      if (body === undefined) {
        pack.entry(h as tar.Header, cb);
        return;
      }
      if (Buffer.isBuffer(body)) {
        pack.entry(h as tar.Header, body, cb);
        return;
      }
      const w = pack.entry(h as tar.Header, cb);
      fs.createReadStream(body).pipe(w as unknown as NodeJS.WritableStream);
    });
  await entry({ name: 'manifest', type: 'file', size: manifest.length, mode: 0o644, mtime: new Date() }, manifest);
  const walk = async (abs: string, rel: string): Promise<void> => {
    const st = fs.lstatSync(abs);
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    const name = rel === '' ? 'rootfs' : `rootfs/${rel}`;
    if (st.isDirectory()) {
      await entry({ ...base, name: `${name}/`, type: 'directory' });
      for (const n of fs.readdirSync(abs).sort()) await walk(`${abs}/${n}`, rel === '' ? n : `${rel}/${n}`);
    } else if (st.isFile()) await entry({ ...base, name, type: 'file', size: st.size }, abs);
    else if (st.isSymbolicLink()) await entry({ ...base, name, type: 'symlink', linkname: fs.readlinkSync(abs) });
    else if (st.isFIFO()) await entry({ ...base, name, type: 'fifo' });
  };
  await walk(ROOT, '');
  pack.finalize();
  await out;
}

main().catch((e: unknown) => {
  process.stderr.write(`Error: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
