// seal: take a tree the caller extracted out of the caller's reach into the helper's store,
// digesting it as it is copied (addon/src/seal.cc). Only sealed trees can be a pod's root.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../../native/addon';
import type { HelperPolicy } from '../../schema/policy';
import type { SealRequest } from '../../schema/protocol';
import { SelinuxError } from '../../native/selinux';
import { HelperError } from '../errors';
import { labelTree } from '../label-tree';
import { subIds, type Peer } from '../peer';
import type { StateDir } from '../state';

/** treeLabel: the SELinux label for the sealed tree (read-only content), null where files are not labelled. */
export async function seal(state: StateDir, policy: HelperPolicy, peer: Peer, _req: SealRequest, treeFd: number, treeLabel: string | null = null) {
  const ids = subIds(peer);
  const info = addon().fdInfo(treeFd);
  if (info.type !== 'dir') throw new HelperError('ESEAL', `the fd passed to seal is a ${info.type}, not a directory; pass the extracted rootfs directory`);
  if (info.uid < ids.uid.base || info.uid >= ids.uid.base + ids.uid.count) {
    throw new HelperError('ESEAL', `the tree's root is owned by uid ${info.uid}, outside your subordinate range ${ids.uid.base}-${ids.uid.base + ids.uid.count - 1}; extract it inside your user namespace (ward does this) and try again`);
  }
  const name = crypto.randomUUID();
  const stagingFd = fs.openSync(state.staging, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  let result;
  try {
    result = await addon().sealTree(treeFd, stagingFd, name, {
      uidBase: ids.uid.base,
      uidCount: ids.uid.count,
      gidBase: ids.gid.base,
      gidCount: ids.gid.count,
      maxEntries: policy.limits.treeEntries,
      maxBytes: policy.limits.treeBytes,
      maxDepth: policy.limits.treeDepth,
    });
  } catch (e) {
    throw new HelperError('ESEAL', `cannot seal the tree: ${(e as Error).message}`);
  } finally {
    fs.closeSync(stagingFd);
  }
  const staged = path.join(state.staging, name);
  const final = state.tree(peer.uid, result.digest);
  // Made only now that there is a tree to keep: a refused seal leaves nothing behind.
  fs.mkdirSync(state.userTrees(peer.uid), { recursive: true, mode: 0o700 });
  let cached = false;
  if (fs.existsSync(final)) {
    fs.rmSync(staged, { recursive: true, force: true });
    cached = true;
  } else {
    // Labelled once, here, while still in staging: trees are shared by every pod of theirs and
    // never written again, so they carry no pod's categories (run relabels one sealed earlier).
    if (treeLabel) await labelStaged(staged, treeLabel);
    fs.renameSync(staged, final);
  }
  return { ok: true as const, tree: result.digest, entries: result.entries, bytes: result.bytes, cached };
}

async function labelStaged(dir: string, label: string): Promise<void> {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    await labelTree(fd, label);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new HelperError('ESEAL', `cannot label the sealed tree: ${e instanceof SelinuxError ? e.message : (e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}
