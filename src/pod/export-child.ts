// ward export's reader: runs as root of the caller's own user namespace (container ids 0..65535
// mapped to the caller's subordinate range, as the extractor), never with host privilege. fd 3 is
// the exited pod's root filesystem, a read-only detached mount the helper handed over; stdin is
// the image manifest to put first; stdout gets the ACI (manifest + rootfs/) as a tar with the
// pod's own ids. Symlinks are written as links and never followed; devices and sockets are left out.
import fs from 'node:fs';
import { packTree } from '../image/tree-tar';

// The mount's root: through the fd's magic link (lstat of the link itself would see a symlink).
const ROOT = '/proc/self/fd/3/.';

async function main(): Promise<void> {
  await packTree(ROOT, false, { bytes: fs.readFileSync(0) });
}

main().catch((e: unknown) => {
  process.stderr.write(`Error: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
