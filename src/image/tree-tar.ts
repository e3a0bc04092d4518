// Writes a tree to stdout as a tar with its own ids (the inverse of rendering): the manifest first
// when there is one, then the tree under rootfs/ (or at the top, rootfs-only). Symlinks are written
// as links and never followed; devices and sockets are left out. Run inside the caller's user
// namespace by the extractor (--export: ward image export and extract) and by ward export's reader.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import type tar from 'tar-stream';

export type TreeManifest = { file: string } | { bytes: Buffer } | null;

export async function packTree(root: string, rootfsOnly: boolean, manifest: TreeManifest): Promise<void> {
  const { default: tarStream } = await import('tar-stream'); // loaded only here: rendering does not need it
  const pack = tarStream.pack();
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
  if (!rootfsOnly && manifest) {
    if ('bytes' in manifest) await entry({ name: 'manifest', type: 'file', size: manifest.bytes.length, mode: 0o644, mtime: new Date() }, manifest.bytes);
    else {
      const st = fs.lstatSync(manifest.file);
      await entry({ name: 'manifest', type: 'file', size: st.size, mode: 0o644, mtime: st.mtime }, manifest.file);
    }
  }
  const prefix = rootfsOnly ? '' : 'rootfs/';
  const walk = async (abs: string, rel: string): Promise<void> => {
    const st = fs.lstatSync(abs);
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      if (rel !== '' || !rootfsOnly) await entry({ ...base, name: `${prefix}${rel}`.replace(/\/?$/, '/'), type: 'directory' });
      for (const n of fs.readdirSync(abs).sort()) await walk(`${abs}/${n}`, rel === '' ? n : `${rel}/${n}`);
    } else if (st.isFile()) await entry({ ...base, name: `${prefix}${rel}`, type: 'file', size: st.size }, abs);
    else if (st.isSymbolicLink()) await entry({ ...base, name: `${prefix}${rel}`, type: 'symlink', linkname: fs.readlinkSync(abs) });
    else if (st.isFIFO()) await entry({ ...base, name: `${prefix}${rel}`, type: 'fifo' });
  };
  await walk(root, '');
  pack.finalize();
  await out;
}
