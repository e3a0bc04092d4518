// Labels every entry of a directory tree, as root, without following a single symlink: each
// entry is opened O_PATH|O_NOFOLLOW relative to its parent's fd (through the parent's
// /proc/self/fd magic link, which lands on the pinned directory, so no path is re-resolved),
// checked with fstat, and labelled through that fd (fsetfilecon). A symlink gets the label
// itself; its target is never touched. Directories are labelled after their contents, the root
// last, so a walk cut short leaves the root unlabelled and is redone (see treeIsLabelled).
import fs from 'node:fs';
import { fsetfilecon, lgetfilecon } from '../native/selinux';

const O_PATH = 0o10000000;
const { O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = fs.constants;

export interface WalkOptions {
  /** Refuses an entry (throws) or lets it be labelled; volumes check owners here. */
  check?: (st: fs.Stats, where: string) => void;
  /** Deeper trees are refused rather than walked (each level holds one fd). */
  maxDepth?: number;
  /** Entries between two yields to the event loop: the helper keeps serving while it labels. */
  batch?: number;
  /** Walk and check only: a refusal then comes before anything was relabelled. */
  dryRun?: boolean;
}

export interface WalkResult {
  entries: number;
  /** Entries on another filesystem (mount points inside a volume): not entered, not labelled. */
  skipped: number;
}

/** Labels the directory dirFd and everything below it with `context`. */
export async function labelTree(rootFd: number, context: string, opts: WalkOptions = {}): Promise<WalkResult> {
  const maxDepth = opts.maxDepth ?? 4096;
  const batch = opts.batch ?? 512;
  const rootSt = fs.fstatSync(rootFd);
  if (!rootSt.isDirectory()) throw new Error('labelTree: the root is not a directory');
  opts.check?.(rootSt, '.');
  const res: WalkResult = { entries: 0, skipped: 0 };
  let sinceYield = 0;

  const visit = async (dirFd: number, rel: string, depth: number): Promise<void> => {
    if (depth > maxDepth) throw new Error(`labelTree: ${rel} is deeper than ${maxDepth} levels`);
    for (const name of fs.readdirSync(`/proc/self/fd/${dirFd}`)) {
      const where = rel === '.' ? name : `${rel}/${name}`;
      const fd = fs.openSync(`/proc/self/fd/${dirFd}/${name}`, O_PATH | O_NOFOLLOW);
      try {
        const st = fs.fstatSync(fd);
        if (st.dev !== rootSt.dev) {
          res.skipped++;
          continue;
        }
        opts.check?.(st, where);
        if (st.isDirectory()) {
          // Re-open the pinned inode for reading through its magic link (O_NOFOLLOW would stop at
          // the link itself): no name lookup, so no swap can redirect it.
          const dfd = fs.openSync(`/proc/self/fd/${fd}`, O_RDONLY | O_DIRECTORY);
          try {
            await visit(dfd, where, depth + 1);
          } finally {
            fs.closeSync(dfd);
          }
        }
        if (!opts.dryRun) fsetfilecon(fd, context);
        res.entries++;
      } finally {
        fs.closeSync(fd);
      }
      if (++sinceYield >= batch) {
        sinceYield = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
  };

  await visit(rootFd, '.', 1);
  if (!opts.dryRun) fsetfilecon(rootFd, context);
  res.entries++;
  return res;
}

/** Whether a tree's root carries `context` (the root is labelled last, so this means all of it). */
export function treeIsLabelled(rootPath: string, context: string): boolean {
  return lgetfilecon(rootPath) === context;
}
