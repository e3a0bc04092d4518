// libselinux (and the few libc xattr calls it stands on) through ffi-rs. ffi-rs and both
// libraries are loaded on first use only: the frontend's hot path never imports this file's
// dependencies, and a host without libselinux.so.1 still works (SELinux is then "disabled").
//
// Every call that can fail throws SelinuxError with the call's name, the argument it was about
// and errno's text, so a refusal in the helper reads as one clear line.
import fs from 'node:fs';
import type * as FfiRs from 'ffi-rs';
import { LxcContexts, SelinuxContext, CONTEXT_RE } from '../schema/selinux';

export class SelinuxError extends Error {
  constructor(readonly call: string, readonly errno: number, message: string) {
    super(message);
  }
}

const XATTR_NAME = 'security.selinux';
const ENOTSUP = 95;
const EBADF = 9;

interface Libs {
  ffi: typeof FfiRs;
  /** False where libselinux.so.1 is not installed. */
  selinux: boolean;
}

let libs: Libs | undefined;

function load(): Libs {
  if (libs) return libs;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ffi = require('ffi-rs') as typeof FfiRs;
  ffi.open({ library: 'ward-libc', path: 'libc.so.6' });
  let selinux = true;
  try {
    ffi.open({ library: 'ward-libselinux', path: 'libselinux.so.1' });
  } catch {
    selinux = false;
  }
  libs = { ffi, selinux };
  return libs;
}

type Ret = FfiRs.DataType.I32 | FfiRs.DataType.String | FfiRs.DataType.External | FfiRs.DataType.Void;

/** One call with errno captured right after it (errno is only meaningful when the call failed). */
function call<T>(lib: 'ward-libc' | 'ward-libselinux', funcName: string, retType: Ret, paramsType: FfiRs.DataType[], paramsValue: unknown[]): { value: T; errno: number; text: string } {
  const { ffi } = load();
  const r = ffi.load({ library: lib, funcName, retType, paramsType, paramsValue, errno: true }) as unknown as { value: T; errnoCode: number; errnoMessage: string };
  return { value: r.value, errno: r.errnoCode, text: r.errnoMessage.replace(/ \(os error \d+\)$/, '') };
}

function requireLib(what: string): void {
  if (!load().selinux) throw new SelinuxError(what, 0, `${what}: libselinux.so.1 is not installed; install libselinux1`);
}

/** is_selinux_enabled(): SELinux is in the kernel and a policy is loaded. False without libselinux. */
export function isSelinuxEnabled(): boolean {
  const l = load();
  if (!l.selinux) return false;
  const { DataType } = l.ffi;
  return call<number>('ward-libselinux', 'is_selinux_enabled', DataType.I32, [], []).value === 1;
}

/** security_getenforce(): true when enforcing, false when permissive; throws when SELinux is absent. */
export function getEnforce(): boolean {
  requireLib('security_getenforce');
  const { DataType } = load().ffi;
  const r = call<number>('ward-libselinux', 'security_getenforce', DataType.I32, [], []);
  if (r.value < 0) throw new SelinuxError('security_getenforce', r.errno, `security_getenforce: ${r.text} (no selinuxfs: SELinux is not enabled in this kernel)`);
  return r.value === 1;
}

/**
 * Calls fn(slot) where slot is a fresh `char **` libselinux fills with a malloc'd string, and
 * returns that string after freecon(). The slot itself comes from libc calloc and is freed here.
 */
function withOutString(what: string, fn: (slot: FfiRs.JsExternal) => { value: number; errno: number; text: string }): string {
  const { ffi } = load();
  const { DataType } = ffi;
  const slot = call<FfiRs.JsExternal>('ward-libc', 'calloc', DataType.External, [DataType.U64, DataType.U64], [1, 8]).value;
  if (ffi.isNullPointer(slot)) throw new SelinuxError(what, 12, `${what}: out of memory`);
  try {
    const r = fn(slot);
    if (r.value < 0) throw new SelinuxError(what, r.errno, `${what}: ${r.text}`);
    const inner = ffi.unwrapPointer([slot])[0]!;
    if (ffi.isNullPointer(inner)) throw new SelinuxError(what, 0, `${what}: returned no context`);
    try {
      return String(ffi.restorePointer({ retType: [DataType.String], paramsValue: [slot] })[0]);
    } finally {
      call('ward-libselinux', 'freecon', DataType.Void, [DataType.External], [inner]);
    }
  } finally {
    call('ward-libc', 'free', DataType.Void, [DataType.External], [slot]);
  }
}

/** getcon(): the calling process's own context. */
export function getcon(): string {
  requireLib('getcon');
  const { DataType } = load().ffi;
  try {
    return withOutString('getcon', (slot) => call<number>('ward-libselinux', 'getcon', DataType.I32, [DataType.External], [slot]));
  } catch (e) {
    if (e instanceof SelinuxError && e.errno === 22) throw new SelinuxError('getcon', 22, 'getcon: this kernel has no SELinux (/proc/self/attr/current is not available)');
    throw e;
  }
}

/**
 * selinux_trans_to_raw_context(): a context in mcstrans' translated form to the raw form the
 * kernel and xattrs use. Without mcstrans (or SELinux) libselinux returns the input unchanged.
 */
export function transToRaw(context: string): string {
  checkSyntax(context);
  if (!load().selinux) return context;
  const { DataType } = load().ffi;
  return withOutString(`selinux_trans_to_raw_context(${context})`, (slot) =>
    call<number>('ward-libselinux', 'selinux_trans_to_raw_context', DataType.I32, [DataType.String, DataType.External], [context, slot]));
}

function checkSyntax(context: string): void {
  if (!CONTEXT_RE.test(context) || context.length > 255) throw new SelinuxError('context', 22, `'${context.slice(0, 80)}' is not an SELinux context (user:role:type[:level])`);
}

/**
 * security_check_context(): the loaded policy accepts the context. Where SELinux is disabled
 * there is no policy to ask (libselinux fails with ENOENT: no selinuxfs), so only the syntax is
 * checked; callers that need the kernel's word check isSelinuxEnabled() first.
 */
export function checkContext(context: string): void {
  checkSyntax(context);
  if (!isSelinuxEnabled()) return;
  const { DataType } = load().ffi;
  const r = call<number>('ward-libselinux', 'security_check_context', DataType.I32, [DataType.String], [context]);
  if (r.value < 0) throw new SelinuxError('security_check_context', r.errno, `the loaded SELinux policy does not know the context ${context} (${r.text}); install the container-selinux policy or fix lxc_contexts`);
}

/** The exact bytes libselinux writes as the xattr: the context and its terminating NUL. */
function xattrValue(context: string): Buffer {
  return Buffer.concat([Buffer.from(context, 'utf8'), Buffer.from([0])]);
}

function setxattrRaw(func: 'lsetxattr' | 'setxattr' | 'fsetxattr', target: string | number, context: string): { value: number; errno: number; text: string } {
  const { DataType } = load().ffi;
  const v = xattrValue(context);
  return call<number>('ward-libc', func, DataType.I32,
    [typeof target === 'number' ? DataType.I32 : DataType.String, DataType.String, DataType.U8Array, DataType.U64, DataType.I32],
    [target, XATTR_NAME, v, v.length, 0]);
}

/**
 * lsetfilecon(): labels path itself, never what a symlink there points to. Where libselinux is
 * missing, or refuses because SELinux is disabled, ward writes the security.selinux xattr itself
 * with the bytes libselinux would write (context + NUL): file labels are only xattrs, and a
 * kernel without SELinux stores them all the same (ext4, xfs, tmpfs).
 */
export function lsetfilecon(path: string, context: string): void {
  checkSyntax(context);
  const { DataType } = load().ffi;
  if (load().selinux) {
    const r = call<number>('ward-libselinux', 'lsetfilecon', DataType.I32, [DataType.String, DataType.String], [path, context]);
    if (r.value === 0) return;
    if (isSelinuxEnabled()) throw new SelinuxError('lsetfilecon', r.errno, `labelling ${path} ${context}: ${r.text}`);
  }
  const r = setxattrRaw('lsetxattr', path, context);
  if (r.value < 0) throw new SelinuxError('lsetxattr', r.errno, `labelling ${path} ${context}: ${r.text}`);
}

/**
 * fsetfilecon(): labels the file fd refers to. An O_PATH fd (the only safe handle on a symlink
 * or a device) cannot take fsetxattr (EBADF): libselinux >= 3.4 then goes through
 * /proc/self/fd/N with setxattr, whose magic link lands on exactly the inode the fd holds (a
 * symlink there is not followed again); the fallback below does the same.
 */
export function fsetfilecon(fd: number, context: string): void {
  checkSyntax(context);
  const { DataType } = load().ffi;
  if (load().selinux) {
    const r = call<number>('ward-libselinux', 'fsetfilecon', DataType.I32, [DataType.I32, DataType.String], [fd, context]);
    if (r.value === 0) return;
    if (isSelinuxEnabled()) throw new SelinuxError('fsetfilecon', r.errno, `labelling fd ${fd} ${context}: ${r.text}`);
  }
  let r = setxattrRaw('fsetxattr', fd, context);
  if (r.value < 0 && r.errno === EBADF) r = setxattrRaw('setxattr', `/proc/self/fd/${fd}`, context);
  if (r.value < 0) throw new SelinuxError('fsetxattr', r.errno, `labelling fd ${fd} ${context}: ${r.errno === ENOTSUP ? 'the filesystem does not store security labels' : r.text}`);
}

/** The raw label stored on path itself (lgetxattr, never following a symlink), or null when it has none. */
export function lgetfilecon(path: string): string | null {
  const { ffi } = load();
  const { DataType } = ffi;
  // Read into memory we own: ffi-rs passes U8Array arguments as copies, so C's writes would be lost.
  const size = 4096;
  const mem = call<FfiRs.JsExternal>('ward-libc', 'calloc', DataType.External, [DataType.U64, DataType.U64], [1, size]).value;
  if (ffi.isNullPointer(mem)) throw new SelinuxError('lgetxattr', 12, 'lgetxattr: out of memory');
  try {
    const r = call<number>('ward-libc', 'lgetxattr', DataType.I32, [DataType.String, DataType.String, DataType.External, DataType.U64], [path, XATTR_NAME, mem, size]);
    if (r.value < 0) {
      if (r.errno === 61 /* ENODATA */ || r.errno === ENOTSUP) return null;
      throw new SelinuxError('lgetxattr', r.errno, `reading the label of ${path}: ${r.text}`);
    }
    const bytes = Buffer.from(ffi.createExternalBuffer(mem, r.value));
    const end = bytes.indexOf(0);
    return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
  } finally {
    call('ward-libc', 'free', DataType.Void, [DataType.External], [mem]);
  }
}

/** selinux_lxc_contexts_path(): where the host's policy keeps its container contexts. */
export function lxcContextsPath(): string | null {
  const l = load();
  if (!l.selinux) return null;
  const { DataType } = l.ffi;
  const p = call<string>('ward-libselinux', 'selinux_lxc_contexts_path', DataType.String, [], []).value;
  return typeof p === 'string' && p.startsWith('/') ? p : null;
}

/**
 * Parses lxc_contexts: `key = "value"` per line, # starts a comment, quotes optional (as
 * go-selinux reads it). A line without '=' or a value that is not a context is an error naming
 * the line: a half-understood policy file must not silently yield other labels.
 */
export function parseLxcContexts(text: string, file = 'lxc_contexts'): LxcContexts {
  const out: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new SelinuxError('lxc_contexts', 22, `${file}:${i + 1}: expected key = "context"`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (!SelinuxContext.safeParse(value).success) throw new SelinuxError('lxc_contexts', 22, `${file}:${i + 1}: '${value.slice(0, 80)}' is not an SELinux context`);
    out[key] = value;
  });
  return LxcContexts.parse(out);
}

/** The host's lxc_contexts, or null where there is none (no policy installed, no libselinux). */
export function readLxcContexts(): LxcContexts | null {
  const p = lxcContextsPath();
  if (!p) return null;
  let text: string;
  try {
    text = fs.readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SelinuxError('lxc_contexts', 5, `reading ${p}: ${(e as Error).message}`);
  }
  return parseLxcContexts(text, p);
}
