// The spine, as people use it: `ward run` by an unprivileged user in group ward, through a real
// root helper, into a real pod. Each test names the property it would catch breaking.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBusyboxAci } from '../lib/aci-builder';
import { account, buildProbe, TestEnv, USERS } from '../lib/env';

const APPC_CAPS = 0xa80425fbn; // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP

describe('ward run through a real helper, as an unprivileged user', () => {
  const env = new TestEnv('spine');
  let aci = '';
  const run = (args: string[], opts: Parameters<TestEnv['ward']>[2] = {}) =>
    env.ward('a', ['run', '--insecure-options=image', aci, '--', ...args], opts);
  const sh = (script: string, opts: Parameters<TestEnv['ward']>[2] = {}) => run(['-c', script], opts);

  before(async () => {
    await env.start();
    aci = env.fixture('busybox.aci');
    await buildBusyboxAci(aci, { files: { '/bin/probe': buildProbe() } });
  });
  after(() => env.stop());

  test('the app runs and its output and exit status come back', async () => {
    const r = await sh('echo hello from the pod');
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'hello from the pod\n');
    assert.equal(r.code, 0);
  });

  test('pid namespace: the app is pid 2 under ward-stage1 as pid 1, host processes are invisible', async () => {
    const r = await sh('echo $$; ls /proc | grep -c "^[0-9]"; cat /proc/1/comm');
    const [pid, count, comm] = r.stdout.trim().split('\n');
    assert.equal(pid, '2');
    assert.ok(Number(count) <= 4, `the pod sees ${count} processes`);
    assert.equal(comm, 'ward-stage1');
    const helperPid = String(env.helperPid);
    const r2 = await sh(`test -e /proc/${helperPid}/status && echo visible || echo hidden`);
    assert.equal(r2.stdout.trim(), 'hidden');
  });

  test('hostname: ward-<uuid> by default, --hostname sets it', async () => {
    const r = await sh('hostname');
    assert.match(r.stdout.trim(), /^ward-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const r2 = await env.ward('a', ['run', '--insecure-options=image', '--hostname', 'web1', aci, '--', '-c', 'hostname']);
    assert.equal(r2.stdout.trim(), 'web1');
  });

  test('user namespace: container root maps to the caller\'s subordinate range, never to host root', async () => {
    const acct = account(USERS.a);
    const r = await sh('cat /proc/self/uid_map /proc/self/gid_map; id -u');
    const rows = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    assert.deepEqual(rows[0], [0, acct.subuid, 65536]);
    assert.deepEqual(rows[1], [0, acct.subgid, 65536]);
    assert.equal(rows[2]?.[0], 0);
    // A file the app creates as root is owned, on the host, by the subordinate range.
    let hostOwner: number | null = null;
    const done = sh('echo x > /made-by-root; echo ready; sleep 5', {
      onSpawn: (c) => {
        c.stdout!.on('data', () => {
          if (hostOwner !== null) return;
          for (const pod of env.podDirs()) {
            const f = path.join(env.podDir(pod) ?? '/nonexistent', 'apps', 'busybox', 'upper', 'made-by-root');
            if (fs.existsSync(f)) {
              hostOwner = fs.statSync(f).uid;
              c.kill('SIGTERM');
            }
          }
        });
      },
    });
    await done;
    assert.equal(hostOwner, acct.subuid);
  });

  test('masked paths are masked and /proc/sys is read-only', async () => {
    const r = await sh('grep -E " /proc/(keys|timer_list|kcore|acpi|scsi) | /sys/firmware " /proc/self/mountinfo | wc -l; wc -c < /proc/keys; echo 1 > /proc/sys/kernel/hostname; echo rc=$?');
    const [mounts, keysBytes] = r.stdout.trim().split('\n');
    const present = ['/proc/keys', '/proc/timer_list', '/proc/kcore', '/proc/acpi', '/proc/scsi', '/sys/firmware'].filter((p) => fs.existsSync(p)).length;
    assert.equal(Number(mounts), present, 'one mask mount per masked path that exists on this kernel');
    assert.equal(keysBytes?.trim(), '0');
    assert.match(r.stdout, /rc=1/);
    assert.match(r.stderr, /Read-only file system/);
  });

  test('default seccomp profile: keyctl, unshare, mount and pivot_root fail with EPERM, ordinary calls work', async () => {
    const r = await run(['-c', '/bin/probe syscall keyctl unshare mount pivot_root clone_newuser getpid uname']);
    assert.equal(r.code, 0, r.stderr);
    const res = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' errno=')));
    for (const denied of ['keyctl', 'unshare', 'mount', 'pivot_root', 'clone_newuser']) assert.equal(res[denied], '1', `${denied} must be EPERM`);
    for (const ok of ['getpid', 'uname']) assert.equal(res[ok], '0', `${ok} must work`);
    const s = await sh('grep -E "^(Seccomp|Seccomp_filters):" /proc/self/status');
    assert.match(s.stdout, /Seccomp:\s+2/);
  });

  test('capabilities are the appc default set, no_new_privs is set', async () => {
    const r = await sh('grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):" /proc/self/status');
    const f = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)));
    assert.equal(BigInt('0x' + f.CapEff), APPC_CAPS);
    assert.equal(BigInt('0x' + f.CapPrm), APPC_CAPS);
    assert.equal(BigInt('0x' + f.CapBnd), APPC_CAPS);
    assert.equal(BigInt('0x' + f.CapInh), 0n);
    assert.equal(BigInt('0x' + f.CapAmb), 0n);
    assert.equal(f.NoNewPrivs, '1');
  });

  test('the app starts with no signal ignored or blocked (the helper ignores SIGPIPE; glibc keeps 32 and 33)', async () => {
    const r = await sh('grep -E "^Sig(Ign|Blk):" /proc/self/status');
    const [blk, ign] = r.stdout.trim().split('\n').map((l) => BigInt(`0x${l.split('\t')[1]}`));
    assert.equal(blk, 0n, r.stdout);
    // busybox sh ignores SIGQUIT (bit 2) itself and passes that on to grep; nothing else may be ignored.
    assert.equal(ign! & ~0x4n, 0n, r.stdout);
  });

  test('only fds 0, 1 and 2 are open in the app', async () => {
    const r = await run(['-c', 'exec /bin/probe fds']);
    assert.equal(r.stdout.trim(), 'fds 0 1 2');
  });

  test('exit statuses pass through: 0, 1, 42, and a kill by signal as 128+n', async () => {
    for (const [script, code] of [['exit 0', 0], ['exit 1', 1], ['exit 42', 42], ['kill -9 $$', 137]] as const) {
      const r = await sh(script);
      assert.equal(r.code, code, `${script}: ${r.stderr}`);
    }
  });

  test('stdin is piped to stdout: 10 MB through cat', async () => {
    const input = crypto.randomBytes(10 * 1024 * 1024);
    const r = await new Promise<Buffer>((resolve, reject) => {
      void env.ward('a', ['run', '--insecure-options=image', aci, '--', '-c', 'cat'], {
        input,
        onSpawn: (c) => {
          const out: Buffer[] = [];
          c.stdout!.on('data', (d: Buffer) => out.push(d));
          c.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`exit ${code}`))));
        },
      });
    });
    assert.equal(r.length, input.length);
    assert.ok(r.equals(input), 'output differs from input');
  });

  test('SIGTERM sent to ward reaches the app', async () => {
    const r = await sh('trap "echo got TERM; exit 143" TERM; echo ready; while :; do sleep 0.1; done', {
      onSpawn: (c) => {
        c.stdout!.once('data', () => setTimeout(() => c.kill('SIGTERM'), 100));
      },
    });
    assert.match(r.stdout, /got TERM/);
    assert.equal(r.code, 143);
  });

  test('the app cannot reach ward-stage1\'s binary (CVE-2019-5736)', async () => {
    const r = await sh('readlink /proc/1/exe; echo rl=$?; cat /proc/1/exe > /dev/null; echo cat=$?; ls /proc/1/fd; echo ls=$?; echo x >> /proc/1/exe; echo w=$?');
    assert.match(r.stdout, /rl=1/);
    assert.match(r.stdout, /cat=1/);
    assert.match(r.stdout, /ls=1/);
    assert.match(r.stdout, /w=1/);
  });

  test('a user outside group ward is refused with a clear message', async () => {
    const r = await env.ward('out', ['run', '--insecure-options=image', aci, '--', '-c', 'true']);
    assert.equal(r.code, 252);
    assert.match(r.stderr, /^ward: .*group ward.*\n$/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  test('without --insecure-options=image an unverifiable image is refused', async () => {
    const r = await env.ward('a', ['run', aci, '--', '-c', 'true']);
    assert.equal(r.code, 250);
    assert.match(r.stderr, /--insecure-options=image/);
  });

  test('after a pod exits: no mounts, no processes; it is listed exited with its status until rm, which leaves nothing', async () => {
    const before = new Set(env.podDirs());
    const r = await sh('exit 5');
    assert.equal(r.code, 5);
    const mountsAfter = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    // Pods mount only in their own namespaces: nothing of theirs may appear in the host's table.
    assert.equal(mountsAfter.split('\n').filter((l) => l.includes(env.dir) || l.includes('overlay')).length, 0);
    const children = fs.readFileSync(`/proc/${env.helperPid}/task/${env.helperPid}/children`, 'utf8').trim();
    assert.equal(children, '', 'the helper has no child processes left');
    const added = env.podDirs().filter((p) => !before.has(p));
    assert.equal(added.length, 1, 'the exited pod is kept');
    const uuid = added[0]!;
    const list = await env.ward('a', ['list', '--format=json']);
    const pod = (JSON.parse(list.stdout) as { uuid: string; state: string; apps: { exitCode: number }[] }[]).find((p) => p.uuid === uuid);
    assert.equal(pod?.state, 'exited');
    assert.equal(pod?.apps[0]?.exitCode, 5);
    const rm = await env.ward('a', ['rm', uuid]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(env.podDir(uuid), null);
    const gc = await env.ward('a', ['gc', '--grace-period=0s']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(env.podDirs(), [], 'gc removes every exited pod');
  });

  test('the audit log has one chained record per request', async () => {
    const { verifyAuditLog } = await import('../../src/helper/audit');
    const text = fs.readFileSync(path.join(env.state, 'audit.log'), 'utf8');
    const v = verifyAuditLog(text);
    assert.equal(v.ok, true, JSON.stringify(v));
    const recs = text.trim().split('\n').map((l) => JSON.parse(l) as { verb: string; uid: number; decision: string });
    assert.ok(recs.some((r) => r.verb === 'seal' && r.uid === account(USERS.a).uid));
    assert.ok(recs.filter((r) => r.verb === 'run').length >= 10);
  });

  test('an image whose /proc, /dev or /sys is a symlink out of the root cannot start (CVE-2023-27561, CVE-2026-41579)', async () => {
    const before = env.podDirs();
    for (const target of ['proc', 'dev', 'sys']) {
      const bad = env.fixture(`symlinked-${target}.aci`);
      await buildBusyboxAci(bad, { omitDirs: [target], entries: [{ name: `rootfs/${target}`, type: 'symlink', linkname: '/' }] });
      const r = await env.ward('a', ['run', '--insecure-options=image', bad, '--', '-c', 'echo escaped']);
      assert.equal(r.code, 254, `${target}: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /escaped/);
      assert.match(r.stderr, new RegExp(`^ward: pod [0-9a-f-]+ did not start: .*/${target}.*\n$`));
      assert.deepEqual(env.podDirs(), before, 'a pod that did not start leaves no state');
    }
  });

  test('a killed frontend (kill -9) takes its foreground pod down with it', async () => {
    const before = new Set(env.podDirs());
    let pid = 0;
    const r = await sh('echo ready; sleep 30', {
      onSpawn: (c) => {
        pid = c.pid!;
        c.stdout!.once('data', () => c.kill('SIGKILL'));
      },
    });
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(pid > 0);
    const uuid = env.podDirs().find((p) => !before.has(p));
    assert.ok(uuid, 'the pod was made');
    const s = await env.ward('a', ['status', '--wait', '--format=json', uuid]);
    const st = JSON.parse(s.stdout) as { state: string; apps: { exitCode: number; signal: string }[] };
    assert.equal(st.state, 'exited');
    assert.equal(st.apps[0]?.signal, 'SIGKILL');
    const children = fs.readFileSync(`/proc/${env.helperPid}/task/${env.helperPid}/children`, 'utf8').trim();
    assert.equal(children, '');
  });
});
