// Seccomp profiles for the helper: read and validate an OCI linux.seccomp profile, compile it to
// BPF with the native addon, and cache the result by the digest of the profile's bytes.
//
// The profile file is read once: the bytes that are digested are the bytes that are parsed and
// compiled. Cache: <stateDir>/seccomp/<hex>.bpf (raw struct sock_filter[], what ward-stage1 loads)
// and <hex>.unknown (syscall names libseccomp did not know, one per line), both written to a
// temp file, fsynced and renamed into place; the .bpf rename is the commit point.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { addon, type Addon } from '../native/addon';
import { SeccompProfileSchema, toProgram, type SeccompProfile } from '../schema/seccomp';

/** A profile is a small policy file. */
const MAX_PROFILE_BYTES = 1 << 20;
/** sizeof(struct sock_filter), and the kernel's BPF_MAXINSNS. */
const SOCK_FILTER_SIZE = 8;
const BPF_MAX_INSNS = 4096;

export interface CompiledProfile {
  /** "sha256:<hex>" of the profile file's bytes. */
  digest: string;
  bpf: Buffer;
  unknown: string[];
}

function fail(file: string, what: string): never {
  throw new Error(`seccomp profile ${file}: ${what}`);
}

function readBounded(file: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    fail(file, `cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) fail(file, 'not a regular file');
    if (st.size > MAX_PROFILE_BYTES) fail(file, `larger than ${MAX_PROFILE_BYTES} bytes`);
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) fail(file, 'changed size while being read');
      off += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

function issuePath(p: readonly PropertyKey[]): string {
  let s = '';
  for (const k of p) s += typeof k === 'number' ? `[${k}]` : `${s ? '.' : ''}${String(k)}`;
  return s || '(root)';
}

function parse(file: string, bytes: Buffer): SeccompProfile {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    fail(file, `invalid JSON: ${(e as Error).message}`);
  }
  const r = SeccompProfileSchema.safeParse(json);
  if (!r.success) {
    const [first] = r.error.issues;
    const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : '';
    fail(file, `${issuePath(first?.path ?? [])}: ${first?.message ?? 'invalid'}${more}`);
  }
  return r.data;
}

/** Reads, parses and strictly validates an OCI linux.seccomp profile; throws a one-line error. */
export function loadProfile(file: string): SeccompProfile {
  return parse(file, readBounded(file));
}

function isWholeFilter(b: Buffer): boolean {
  return b.length > 0 && b.length % SOCK_FILTER_SIZE === 0 && b.length <= BPF_MAX_INSNS * SOCK_FILTER_SIZE;
}

function cacheDir(stateDir: string): string {
  const dir = path.join(stateDir, 'seccomp');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`seccomp cache ${dir}: not a directory`);
  if ((st.mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700);
  return dir;
}

function readCache(bpfPath: string, unknownPath: string): { bpf: Buffer; unknown: string[] } | null {
  try {
    const bpf = fs.readFileSync(bpfPath);
    if (!isWholeFilter(bpf)) return null;
    const text = fs.readFileSync(unknownPath, 'utf8');
    return { bpf, unknown: text === '' ? [] : text.split('\n') };
  } catch {
    return null;
  }
}

function writeAtomic(file: string, data: Buffer | string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Compiles the profile at `file` to BPF, or returns the cached compilation of identical bytes.
 * `compiler` defaults to the native addon (tests pass another build of it).
 */
export function compileProfile(
  stateDir: string,
  file: string,
  compiler: Pick<Addon, 'compileSeccomp'> = addon(),
): CompiledProfile & { profile: SeccompProfile } {
  const bytes = readBounded(file);
  const profile = parse(file, bytes);
  return { ...compileParsed(stateDir, file, bytes, profile, compiler), profile };
}

/**
 * Compiles a validated profile whose bytes are `bytes` (the cache key), or returns the cached
 * compilation; `label` names it in errors.
 */
export function compileParsed(
  stateDir: string,
  label: string,
  bytes: Buffer,
  profile: SeccompProfile,
  compiler: Pick<Addon, 'compileSeccomp'> = addon(),
): CompiledProfile {
  const hex = createHash('sha256').update(bytes).digest('hex');
  const digest = `sha256:${hex}`;
  const dir = cacheDir(stateDir);
  const bpfPath = path.join(dir, `${hex}.bpf`);
  const unknownPath = path.join(dir, `${hex}.unknown`);

  const cached = readCache(bpfPath, unknownPath);
  if (cached) return { digest, ...cached };

  let out;
  try {
    out = compiler.compileSeccomp(toProgram(profile));
  } catch (e) {
    fail(label, `does not compile: ${(e as Error).message}`);
  }
  if (!isWholeFilter(out.bpf)) fail(label, `compiled to ${out.bpf.length} bytes, not a loadable filter`);
  writeAtomic(unknownPath, out.unknown.join('\n'));
  writeAtomic(bpfPath, out.bpf);
  return { digest, bpf: out.bpf, unknown: out.unknown };
}
