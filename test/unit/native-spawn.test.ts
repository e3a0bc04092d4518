// The addon's posix_spawn of a sealed memfd (how the helper starts ward-stage1): the child gets
// exactly the fds it is given plus the sync socket on fd 3, an empty environment and default
// signals; its exit or its killing signal comes back through its pidfd.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { addon } from '../../src/native/addon';

const busybox = addon().sealedMemfd('/bin/busybox', 'busybox');

async function reaped(pidfd: number): Promise<{ code: number | null; signal: number | null }> {
  for (let i = 0; i < 500; i++) {
    const r = addon().waitPidfd(pidfd);
    if (r) return r;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('the child did not exit');
}

function runScript(script: string): { dir: string; out: string; spawned: { pid: number; pidfd: number; sync: number } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-spawn-'));
  fs.writeFileSync(path.join(dir, 'script'), script);
  const input = fs.openSync(path.join(dir, 'script'), 'r');
  const out = path.join(dir, 'out');
  const output = fs.openSync(out, 'w');
  try {
    // busybox as "sh" reads its script from stdin.
    return { dir, out, spawned: addon().spawnMemfd(busybox.fd, 'sh', [input, output, output, -1]) };
  } finally {
    fs.closeSync(input);
    fs.closeSync(output);
  }
}

test('the child has fds 0-3 only (fd 3 the sync socket), no environment, default signal dispositions', async () => {
  process.env.WARD_SPAWN_MARKER = 'set in the parent';
  const { dir, out, spawned } = runScript('ls /proc/$$/fd; echo env: $(env | cut -d= -f1 | sort); grep -E "^Sig(Ign|Blk)" /proc/$$/status; exit 7\n');
  try {
    assert.deepEqual(await reaped(spawned.pidfd), { code: 7, signal: null });
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    const fdLines = lines.filter((l) => /^\d+$/.test(l));
    // Besides 0-3, only what this process itself holds without close-on-exec (a test runner's
    // inherited fds): node's own fds never reach the child.
    const cloexec = (fd: string): boolean => {
      try {
        return (parseInt(/^flags:\s+(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8) & 0o2000000) !== 0;
      } catch {
        return true; // the directory listing's own fd, closed meanwhile
      }
    };
    const inherited = fs.readdirSync('/proc/self/fd').filter((fd) => Number(fd) > 3 && !cloexec(fd));
    assert.deepEqual(fdLines.map(Number).sort((a, b) => a - b), [0, 1, 2, 3, ...inherited.map(Number)].sort((a, b) => a - b), 'only the fds given, and the sync socket');
    assert.match(lines[fdLines.length]!, /^env: /);
    assert.doesNotMatch(lines[fdLines.length]!, /WARD_SPAWN_MARKER|HOME/, 'nothing of the helper\'s environment reaches the child');
    const sig = lines.slice(fdLines.length + 1);
    assert.equal(sig.length, 2);
    // Node ignores SIGPIPE: not the child. busybox sh ignores SIGQUIT itself (0x4); glibc's
    // posix_spawn leaves its own two signals (32, 33) ignored, which ward-stage1 resets before the
    // app (test/integration/spine checks the app's).
    assert.equal(sig[0], 'SigBlk:\t0000000000000000');
    assert.equal(BigInt(`0x${sig[1]!.split('\t')[1]}`) & ~0x180000004n, 0n, sig[1]);
    // The helper's end of the sync socket reads EOF once the child is gone.
    const buf = Buffer.alloc(16);
    assert.equal(fs.readSync(spawned.sync, buf), 0);
  } finally {
    addon().close(spawned.sync);
    addon().close(spawned.pidfd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a signal sent through the pidfd, and the killing signal reported', async () => {
  const { dir, spawned } = runScript('sleep 30\n');
  try {
    assert.equal(addon().waitPidfd(spawned.pidfd), null, 'still running');
    assert.equal(addon().pidfdSendSignal(spawned.pidfd, os.constants.signals.SIGKILL), true);
    assert.deepEqual(await reaped(spawned.pidfd), { code: null, signal: os.constants.signals.SIGKILL });
  } finally {
    addon().close(spawned.sync);
    addon().close(spawned.pidfd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an exec fd whose number a child fd takes is run through a copy above them, which does not stay open', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-spawn-'));
  try {
    fs.writeFileSync(path.join(dir, 'script'), 'ls /proc/$$/fd; exit 3\n');
    const input = fs.openSync(path.join(dir, 'script'), 'r');
    const output = fs.openSync(path.join(dir, 'out'), 'w');
    const before = fs.readdirSync('/proc/self/fd').length;
    // 24 child fds: busybox.fd (a low number in this process) is among them; fd 23 gets stdout.
    const fds = [input, output, output, -1, ...Array<number>(19).fill(-1), output];
    assert.ok(busybox.fd < fds.length, `the memfd is fd ${busybox.fd}`);
    const spawned = addon().spawnMemfd(busybox.fd, 'sh', fds);
    fs.closeSync(input);
    fs.closeSync(output);
    assert.deepEqual(await reaped(spawned.pidfd), { code: 3, signal: null });
    addon().close(spawned.sync);
    addon().close(spawned.pidfd);
    assert.ok(fs.readFileSync(path.join(dir, 'out'), 'utf8').split('\n').includes('23'), 'fd 23 reached the child');
    assert.equal(fs.readdirSync('/proc/self/fd').length, before - 2, 'no copy of the exec fd left open');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad arguments are refused before anything is spawned', () => {
  const spawn = addon().spawnMemfd as (...a: unknown[]) => unknown;
  assert.throws(() => spawn(busybox.fd, 'sh'), TypeError);
  assert.throws(() => spawn(busybox.fd, 'sh', [0, 1, 2]), /between 4 and 64/);
  assert.throws(() => spawn(busybox.fd, 'sh', [0, 1, 2, -1, 'x']), /must be numbers/);
  assert.throws(() => spawn(busybox.fd, 'sh', [0, 1, 2, -1, -5]), /bad fd/);
  assert.throws(() => spawn(999_999, 'sh', [0, 1, 2, -1]), /must be open/);
  assert.throws(() => (addon().waitPidfd as (...a: unknown[]) => unknown)('x'), TypeError);
});
