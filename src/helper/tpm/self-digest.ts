// The helper's own digest, as measured with every pod: sha256 over the list of (path, sha256) of
// the code the helper runs (its compiled rooms helper/, schema/, native/ and the native addon)
// and the Node version. Computed once at start; a change to any of those files changes it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const DIST_SRC = path.join(__dirname, '..', '..'); // dist/src
const REPO = path.join(DIST_SRC, '..', '..');
const ROOMS = ['helper', 'schema', 'native'];
const ADDON = path.join('addon', 'build', 'Release', 'ward_addon.node');

function jsFiles(dir: string, rel: string, out: string[]): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const r = `${rel}/${e.name}`;
    if (e.isDirectory()) jsFiles(path.join(dir, e.name), r, out);
    else if (e.isFile() && e.name.endsWith('.js')) out.push(r);
  }
}

export function helperDigest(): string {
  const files: string[] = [];
  for (const room of ROOMS) jsFiles(path.join(DIST_SRC, room), `dist/src/${room}`, files);
  files.sort();
  const list = crypto.createHash('sha256');
  list.update(`node ${process.version}\n`);
  for (const f of [...files, ADDON]) {
    const digest = crypto.createHash('sha256').update(fs.readFileSync(path.join(REPO, f))).digest('hex');
    list.update(`${digest}  ${f}\n`);
  }
  return `sha256:${list.digest('hex')}`;
}
