// User and group names of an app, resolved in its image's own rendered tree: /etc/passwd and
// /etc/group are read through openat2(RESOLVE_IN_ROOT), so a symlink in the image can only ever
// lead to another file of the same tree (never to the host's), and at most MAX_DB_BYTES of each.
import fs from 'node:fs';
import { WardError } from '../schema/errors';
import { addon } from '../native/addon';

const MAX_DB_BYTES = 4 << 20;
const MAX_ID = 65535;

export interface IdDb {
  /** The rendered tree's rootfs directory (the user's own store). */
  rootfs: string;
  image: string;
}

function readDb(db: IdDb, file: '/etc/passwd' | '/etc/group', wanted: string): string[][] {
  let text: string;
  const root = fs.openSync(db.rootfs, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    text = addon().readFileInRoot(root, file, MAX_DB_BYTES).toString('utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it has no such file' : code === 'EFBIG' ? `it is larger than ${MAX_DB_BYTES} bytes` : code === 'EXDEV' || code === 'ELOOP' ? 'it does not resolve inside the image (a symlink loop or a link out of the tree)' : code === 'EINVAL' ? 'it is not a regular file' : (e as Error).message;
    throw new WardError('EIMAGE', `cannot look up '${wanted}' in ${file} of image ${db.image}: ${why}; give a numeric id instead`);
  } finally {
    fs.closeSync(root);
  }
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

function numeric(value: string): number | null {
  if (!/^\d+$/.test(value)) return null;
  const n = Number(value);
  return n <= MAX_ID ? n : null;
}

function checkId(raw: string | undefined, what: string, name: string, db: IdDb): number {
  const n = numeric(raw ?? '');
  if (n === null) throw new WardError('EIMAGE', `${what} '${name}' of image ${db.image} has id '${raw ?? ''}', not a number from 0 to ${MAX_ID}`);
  return n;
}

/** A uid: a number (0-65535), or a name from the image's /etc/passwd. */
export function resolveUser(value: string, db: IdDb): number {
  const n = numeric(value);
  if (n !== null) return n;
  if (/^\d+$/.test(value)) throw new WardError('EUSAGE', `user id ${value} is out of range: ids inside a pod are 0-${MAX_ID}`);
  if (value.startsWith('/')) throw new WardError('EIMAGE', `user '${value}': ids taken from a file's owner are not supported; give a name or a number`);
  const entry = readDb(db, '/etc/passwd', value).find((f) => f[0] === value);
  if (!entry) throw new WardError('EIMAGE', `user '${value}' is not in /etc/passwd of image ${db.image}; give a numeric uid or a user the image has`);
  return checkId(entry[2], 'user', value, db);
}

/** A gid: a number (0-65535), or a name from the image's /etc/group. */
export function resolveGroup(value: string, db: IdDb): number {
  const n = numeric(value);
  if (n !== null) return n;
  if (/^\d+$/.test(value)) throw new WardError('EUSAGE', `group id ${value} is out of range: ids inside a pod are 0-${MAX_ID}`);
  if (value.startsWith('/')) throw new WardError('EIMAGE', `group '${value}': ids taken from a file's owner are not supported; give a name or a number`);
  const entry = readDb(db, '/etc/group', value).find((f) => f[0] === value);
  if (!entry) throw new WardError('EIMAGE', `group '${value}' is not in /etc/group of image ${db.image}; give a numeric gid or a group the image has`);
  return checkId(entry[2], 'group', value, db);
}
