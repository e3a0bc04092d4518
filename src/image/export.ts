// ward image export / extract / render: an image out of the store. Export writes an ACI (the
// stored ACI itself, or one made from the rendered tree with the image's own ids); extract and
// render write the tree into a directory owned by the user, with their own ownership, through
// the same safe entry-by-entry extraction as fetching (the tree's content is still hostile).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import tar from 'tar-stream';
import { applyDirModes, applyEntry, LayerState, type EntryContext } from './apply-entry';
import { WardError } from '../schema/errors';
import { DEFAULT_LIMITS } from './limits';
import { mySubRanges } from './render';
import { parserSink } from './streamx-sink';
import { writeAtomic, type ImageRecord, type Store } from './store';
import { ensureTree } from './tree';

/** Streams the rendered tree of rec as a tar from the extractor's namespace. */
async function treeTar(store: Store, rec: ImageRecord, rootfsOnly: boolean, sink: Writable): Promise<void> {
  const { dir } = await ensureTree(store, rec);
  // Readable by the extractor's namespace, to which our own uid is "other".
  writeAtomic(path.join(dir, 'manifest'), JSON.stringify(rec.manifest), 0o644);
  const ids = mySubRanges();
  fs.chmodSync(dir, 0o777);
  const dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    const child = spawn('unshare', ['--user', `--map-users=${ids.uid},0,65536`, `--map-groups=${ids.gid},0,65536`, '--setuid', '0', '--setgid', '0', '--',
      process.execPath, path.join(__dirname, '..', 'image', 'extract-child.js'), '--export', rootfsOnly ? 'rootfs-only' : 'aci'], { stdio: ['ignore', 'pipe', 'pipe', dirFd] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4096)));
    const exited = new Promise<number | null>((res) => child.on('close', res));
    // The child's failure explains a short tar better than the parser does: check it first.
    const piped = pipeline(child.stdout!, sink).catch((e: unknown) => e as Error);
    const code = await exited;
    const pipeErr = await piped;
    if (code === 0 && pipeErr) throw pipeErr;
    if (code !== 0) throw new WardError('EINTERNAL', `reading the rendered tree of ${rec.name} failed: ${err.split('\n').find((l) => /Error/.test(l)) ?? `exit ${code}`}`);
  } finally {
    fs.chmodSync(dir, 0o700);
    fs.closeSync(dirFd);
  }
}

export async function exportImage(store: Store, rec: ImageRecord, file: string, overwrite: boolean): Promise<void> {
  if (fs.existsSync(file) && !overwrite) throw new WardError('EUSAGE', `${file} exists; pass --overwrite to replace it`);
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    if (rec.kind === 'aci') fs.copyFileSync(store.blobs.path(rec.id), tmp);
    else await treeTar(store, rec, false, fs.createWriteStream(tmp, { mode: 0o644 }));
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

export async function extractImage(store: Store, rec: ImageRecord, dir: string, rootfsOnly: boolean): Promise<void> {
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new WardError('EUSAGE', `${dir} is not empty; give a new or empty directory`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const root = rootfsOnly ? dir : path.join(dir, 'rootfs');
  if (!rootfsOnly) fs.mkdirSync(root, { mode: 0o755 });
  const ctx: EntryContext = { root, limits: DEFAULT_LIMITS, entries: 0, bytes: 0, manifest: null, dirModes: [], contents: new Map(), owners: false };
  const parser = tar.extract();
  const state = new LayerState();
  parser.on('entry', (h, stream, next) => {
    stream.on('error', () => undefined);
    applyEntry(h, stream as unknown as Readable, rootfsOnly ? 'oci' : 'aci', state, ctx).then(() => next(), (e: unknown) => {
      stream.resume();
      next(e as Error);
    });
  });
  const { sink, parsed } = parserSink(parser);
  await treeTar(store, rec, rootfsOnly, sink);
  await parsed;
  applyDirModes(ctx);
  if (!rootfsOnly) fs.writeFileSync(path.join(dir, 'manifest'), JSON.stringify(rec.manifest, null, 2), { mode: 0o644 });
}
