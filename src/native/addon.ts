// The TypeScript face of ward's native addon (addon/src). Every native entry point is declared
// here once, typed; nothing else in src/ loads the .node file directly.
import path from 'node:path';

export interface PeerCred {
  uid: number;
  gid: number;
  pid: number;
  /** A pidfd for the peer taken by the kernel at connect() (SO_PEERPIDFD), or -1 if unsupported. */
  pidfd: number;
}

export interface Frame {
  data: Buffer;
  /** fds received with SCM_RIGHTS alongside the frame, already O_CLOEXEC. */
  fds: number[];
}

/** What one non-blocking recvmsg brought: bytes (empty when nothing was there yet), fds, end of stream. */
export interface RecvChunk {
  data: Buffer;
  /** fds received with SCM_RIGHTS alongside these bytes, already O_CLOEXEC; the caller owns them. */
  fds: number[];
  /** True at the end of the stream (recvmsg returned 0); data is then empty. */
  eof: boolean;
}

/** Readiness of one fd on the event loop (uv_poll): see watchFd. */
export interface FdWatcher {
  /** What to be told about; (false, false) stops watching until asked again. */
  setInterest(readable: boolean, writable: boolean): void;
  /** Stops watching at once; call it before the fd is closed. Later calls do nothing. */
  close(): void;
}

export type FdType = 'file' | 'dir' | 'fifo' | 'socket' | 'char' | 'block' | 'symlink' | 'unknown';

export interface FdInfo {
  type: FdType;
  mode: number;
  uid: number;
  gid: number;
  dev: number;
  ino: number;
  /** fcntl(F_GETFL) & O_ACCMODE: 0 read-only, 1 write-only, 2 read-write. */
  accmode: number;
  /** True if the fd was opened with O_PATH. */
  opath: boolean;
}

/**
 * Makes new regular files in order on a thread of its own (as writeNewFile, the body copied).
 * Every path must be new; fence() before anything that could touch a queued path. The first
 * failure is thrown by the next write() or fence(), and everything after it is dropped.
 */
export interface FileWriter {
  write(path: string, data: Buffer, mode: number, uid: number, gid: number, mtime: number): void;
  /** Waits until everything queued is on disk; throws the first failure, if any. */
  fence(): void;
  /** Finishes what is queued and ends the thread; later writes throw. */
  close(): void;
}

export interface SeccompArg {
  index: number;
  /** Decimal string: u64 values do not fit a JS number. */
  value: string;
  valueTwo: string;
  op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

export interface SeccompRule {
  names: string[];
  action: string; // SCMP_ACT_ALLOW | SCMP_ACT_ERRNO | SCMP_ACT_KILL | SCMP_ACT_KILL_PROCESS | SCMP_ACT_TRAP | SCMP_ACT_LOG
  errno: number;  // used with SCMP_ACT_ERRNO
  args: SeccompArg[];
}

export interface SeccompProgram {
  defaultAction: string;
  defaultErrno: number;
  /** libseccomp arch tokens, e.g. SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32. */
  architectures: string[];
  rules: SeccompRule[];
}

export interface SeccompCompiled {
  /** The raw struct sock_filter array, ready for seccomp(SECCOMP_SET_MODE_FILTER). */
  bpf: Buffer;
  /** Syscall names this libseccomp does not know (skipped, as runc and crun do). */
  unknown: string[];
}

export interface SealLimits {
  uidBase: number;
  uidCount: number;
  gidBase: number;
  gidCount: number;
  maxEntries: number;
  maxBytes: number;
  maxDepth: number;
}

export interface SealResult {
  digest: string; // "sha256:<64 hex>"
  entries: number;
  bytes: number;
}

export interface Addon {
  peerCred(fd: number): PeerCred;
  /** Reads one frame: u32 big-endian length, then payload. Resolves null on clean EOF before a header. */
  recvFrame(fd: number, maxBytes: number, maxFds: number, timeoutMs: number): Promise<Frame | null>;
  sendFrame(fd: number, data: Buffer, fds: number[], timeoutMs: number): void;
  /**
   * One non-blocking recvmsg of at most maxBytes (1..16 MiB) and maxFds fds (0..16). Nothing to
   * read: empty data, eof false. Throws with code ETOOMANYFDS (after closing what came) when more
   * fds arrived than maxFds or than one message can hold, or with the errno name.
   */
  recvSome(fd: number, maxBytes: number, maxFds: number): RecvChunk;
  /**
   * One non-blocking sendmsg (MSG_NOSIGNAL) of as much of data (not empty) as the socket takes;
   * returns the bytes sent, 0 when it is full. fds (at most 16) ride with the first byte: once
   * this returns more than 0 they are sent. Throws with the errno name (EPIPE, ECONNRESET, ...).
   */
  sendSome(fd: number, data: Buffer, fds: number[]): number;
  /**
   * Watches fd on the event loop, no thread: onEvent runs on the main thread while the fd is
   * ready for what setInterest asked (level-triggered; nothing until setInterest is called).
   * error: libuv saw POLLERR and stopped watching; the next recvSome/sendSome reports why, and
   * setInterest starts again. The fd becomes O_NONBLOCK, and no other libuv handle may read or
   * write it meanwhile (EEXIST). Close the watcher before the fd: the fd number could otherwise
   * be reused while still watched. Throwing from onEvent is an uncaught exception.
   */
  watchFd(fd: number, onEvent: (readable: boolean, writable: boolean, error: boolean) => void): FdWatcher;
  connectUnix(socketPath: string): number;
  close(fd: number): void;
  /** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): two connected ends. */
  socketPair(): [number, number];
  /** shutdown(SHUT_RDWR): the peer sees EOF, a pending recvFrame wakes with it; ENOTCONN is not an error. */
  shutdown(fd: number): void;
  fdInfo(fd: number): FdInfo;
  /** Copies a file into a memfd sealed against every change; returns the fd and its sha256 hex. */
  sealedMemfd(filePath: string, name: string): { fd: number; sha256: string };
  compileSeccomp(program: SeccompProgram): SeccompCompiled;
  /**
   * posix_spawn of the sealed memfd (as /proc/self/fd/execFd) with argv [argv0], an empty
   * environment, default signals; child fd i is fds[i] (-1: none) but fd 3, a new socketpair whose
   * other end is sync. Throws (code ESPAWN) when it cannot.
   */
  spawnMemfd(execFd: number, argv0: string, fds: number[]): { pid: number; pidfd: number; sync: number };
  /** Reaps the exited process behind pidfd: its exit code or terminating signal number; null while it runs. */
  waitPidfd(pidfd: number): { code: number; signal: null } | { code: null; signal: number } | null;
  /** sha256 (lowercase hex) of a string's UTF-8 bytes or a buffer, at most 1 MiB: short keys without loading node:crypto. */
  sha256Hex(data: string | Buffer): string;
  /**
   * The bytes of a regular file of at most maxBytes, path resolved inside the tree at rootFd as if
   * it were "/" (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV). Throws with
   * code ENOENT, ELOOP, EXDEV, EFBIG, EINVAL (not a regular file) or EIO.
   */
  readFileInRoot(rootFd: number, path: string, maxBytes: number): Buffer;
  /** flock(2). Without wait, resolves false when the lock is held elsewhere. */
  flock(fd: number, mode: 'shared' | 'exclusive' | 'unlock', wait: boolean): boolean;
  /** pidfd_open(2): a pidfd (O_CLOEXEC) for pid; throws with code ESRCH when there is no such process. */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2): true when sent, false when the process has already exited. */
  pidfdSendSignal(pidfd: number, signo: number): boolean;
  /** A read-only, nosuid, nodev, noexec overlay of the lower dirs ("top:...:bottom"), detached (in no mount table); its fd. */
  detachedOverlay(lowerdir: string): number;
  /** Opens a directory or regular file O_RDONLY with the caller's fs ids and groups (addon/src/open-as.cc); throws with code = errno name or EBADTYPE. */
  openAs(path: string, uid: number, gid: number, groups: number[]): number;
  /**
   * Creates path (relative to the cwd; O_EXCL, never through a symlink) with data, ids (uid < 0:
   * the creator's, setuid and setgid dropped), mode and mtime (seconds), in one call. Returns 0,
   * or EEXIST (17) without touching anything when path exists; throws an errno Error otherwise.
   */
  writeNewFile(path: string, data: Buffer, mode: number, uid: number, gid: number, mtime: number): number;
  /** A writer of new regular files on a thread of its own, at most maxBytes and maxFiles queued. */
  fileWriter(maxBytes: number, maxFiles: number): FileWriter;
  /** Copies the tree under srcDirFd into a new dir dstParentFd/dstName without following any symlink, and digests it. */
  sealTree(srcDirFd: number, dstParentFd: number, dstName: string, limits: SealLimits): Promise<SealResult>;
}

let cached: Addon | undefined;

/** Loads the addon once; the path is fixed relative to this file so no caller can redirect it. */
export function addon(): Addon {
  if (!cached) {
    const file = path.join(__dirname, '..', '..', '..', 'addon', 'build', 'Release', 'ward_addon.node');
    cached = require(file) as Addon;
  }
  return cached;
}

let cachedTpm: unknown;

/** The TPM bindings (addon/tpm), a separate addon so that loading the main one links no tpm2-tss. */
export function tpmAddon(): unknown {
  cachedTpm ??= require(path.join(__dirname, '..', '..', '..', 'addon', 'build', 'Release', 'ward_tpm.node'));
  return cachedTpm;
}

/** Path of the ward-stage1 binary built beside the addon. */
export function stage1Path(): string {
  return path.join(__dirname, '..', '..', '..', 'addon', 'build', 'ward-stage1');
}
