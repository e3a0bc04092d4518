// The helper's own store (DESIGN.md §5): root-owned, 0700, nothing in it reachable by users.
import fs from 'node:fs';
import path from 'node:path';
import { PodStore } from './pod-store';

export class StateDir {
  readonly trees: string;
  readonly staging: string;
  readonly pods: string;
  readonly seccomp: string;
  readonly mcs: string;
  readonly auditLog: string;
  readonly podStore: PodStore;

  constructor(readonly root: string) {
    this.trees = path.join(root, 'trees');
    this.staging = path.join(root, 'trees', '.staging');
    this.pods = path.join(root, 'pods');
    this.seccomp = path.join(root, 'seccomp');
    this.mcs = path.join(root, 'mcs');
    this.auditLog = path.join(root, 'audit.log');
    this.podStore = new PodStore(this.pods);
  }

  /** Creates the layout and refuses a state dir that others could write to or that is a symlink. */
  init(): void {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(this.root);
    if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
      throw new Error(`state dir ${this.root} must be a directory owned by root and not writable by others; fix its owner and mode or pass another --state-dir`);
    }
    for (const d of [this.trees, this.staging, this.pods, this.seccomp, this.mcs]) {
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      fs.chmodSync(d, 0o700);
    }
    // Half-sealed trees from a helper that died mid-copy are garbage.
    for (const name of fs.readdirSync(this.staging)) fs.rmSync(path.join(this.staging, name), { recursive: true, force: true });
    this.podStore.init();
  }

  userTrees(uid: number): string {
    return path.join(this.trees, String(uid));
  }

  tree(uid: number, digest: string): string {
    return path.join(this.userTrees(uid), digest.replace(/^sha256:/, ''));
  }

  /** The pod's directory in whichever state it is (run/ when it is nowhere). */
  pod(uuid: string): string {
    return this.podStore.find(uuid)?.dir ?? this.podStore.path('run', uuid);
  }
}
