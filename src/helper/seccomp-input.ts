// What ward-stage1 reads on fd 4: the apps' seccomp BPF programs one after another, each app's
// length in its section of the launch spec (addon/stage1/spec.h). One program is handed over as
// its compiled file (the common case costs no copy); several are joined into an unlinked file in
// the pod's root-only directory.
import fs from 'node:fs';
import path from 'node:path';

export interface SeccompInput {
  /** fd 4 for stage1 (null: no app has a program); the caller closes it. */
  fd: number | null;
  /** Each app's program length in bytes (0: none). */
  bytes: number[];
}

/** bpfPaths: each app's compiled program (the helper's own cache of profiles), or null for none. */
export function seccompInput(podDir: string, bpfPaths: (string | null)[]): SeccompInput {
  const used = bpfPaths.filter((p): p is string => p !== null);
  const flags = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;
  if (used.length === 0) return { fd: null, bytes: bpfPaths.map(() => 0) };
  if (used.length === 1) {
    const fd = fs.openSync(used[0]!, flags);
    const size = fs.fstatSync(fd).size;
    return { fd, bytes: bpfPaths.map((p) => (p === null ? 0 : size)) };
  }
  const programs = new Map<string, Buffer>();
  for (const p of used) if (!programs.has(p)) programs.set(p, readProgram(p, flags));
  const file = path.join(podDir, '.seccomp');
  fs.writeFileSync(file, Buffer.concat(used.map((p) => programs.get(p)!)), { mode: 0o600, flag: 'wx' });
  try {
    return { fd: fs.openSync(file, flags), bytes: bpfPaths.map((p) => (p === null ? 0 : programs.get(p)!.length)) };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function readProgram(file: string, flags: number): Buffer {
  const fd = fs.openSync(file, flags);
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
