// ward export: an exited pod's root filesystem as an ACI. The helper hands over a read-only
// detached mount of it (no root parsing of the pod's hostile content); export-child.js reads it
// as root of our own user namespace, so the pod's files keep their ids, and writes the tar.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WardError } from '../schema/errors';
import { mySubRanges } from '../image/render';
import { addon } from '../native/addon';
import { HelperClient } from './client';
import { podManifest } from './pods';

export async function exportPod(socketPath: string, uuid: string, file: string, overwrite: boolean): Promise<void> {
  if (fs.existsSync(file) && !overwrite) throw new WardError('EUSAGE', `${file} exists; pass --overwrite to replace it`);
  const pod = await podManifest(socketPath, uuid);
  const app = pod.apps[0]!;
  const manifest = {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: app.image.name,
    app: app.app,
    annotations: [{ name: 'appc.io/ward/exported-from-pod', value: uuid }, { name: 'appc.io/ward/base-image', value: app.image.id }],
  };
  const client = new HelperClient(socketPath);
  let mountFd = -1;
  try {
    client.send({ verb: 'export', uuid });
    const { reply, fds } = await client.receiveWithFds(1);
    if (!reply.ok) {
      for (const fd of fds) addon().close(fd);
      throw new WardError(reply.code, reply.message);
    }
    if (fds.length !== 1) throw new WardError('EHELPER', 'the ward helper answered export without the pod\'s mount; see its log');
    mountFd = fds[0]!;
  } finally {
    client.close();
  }
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  const out = fs.openSync(tmp, 'wx', 0o644);
  try {
    const ids = mySubRanges();
    const child = spawn('unshare', ['--user', `--map-users=${ids.uid},0,65536`, `--map-groups=${ids.gid},0,65536`, '--setuid', '0', '--setgid', '0', '--',
      process.execPath, path.join(__dirname, '..', 'pod', 'export-child.js')], { stdio: ['pipe', out, 'pipe', mountFd] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4096)));
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(JSON.stringify(manifest));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    if (code !== 0) throw new WardError('EINTERNAL', `reading pod ${uuid}'s root filesystem failed: ${err.split('\n').find((l) => /Error/.test(l)) ?? `exit ${code}`}`);
    fs.closeSync(out);
    fs.renameSync(tmp, file);
  } finally {
    try {
      fs.closeSync(out);
    } catch {
      /* closed */
    }
    fs.rmSync(tmp, { force: true });
    addon().close(mountFd);
  }
}
