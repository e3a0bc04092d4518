// rkt's run syntax: IMAGE [per-app flags] [-- ARGS] --- IMAGE2 ..., and every malformed case
// refused with one usage line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WardError } from '../../src/schema/errors';
import { MAX_APPS, parseApps, PER_APP_FLAGS } from '../../src/pod/app-args';
import { parseSeccompFlag, seccompGroups } from '../../src/pod/app-seccomp-flag';

const POD = ['hostname', 'detach', 'insecure-options', 'set-env'];

function refused(words: string[], re: RegExp): void {
  assert.throws(() => parseApps(words, POD), (e: unknown) => e instanceof WardError && e.code === 'EUSAGE' && re.test(e.message) && !e.message.includes('\n'));
}

describe('parseApps', () => {
  test('one image, no flags, no arguments', () => {
    const [a, ...rest] = parseApps(['img.aci']);
    assert.equal(rest.length, 0);
    assert.equal(a!.image, 'img.aci');
    assert.equal(a!.args, null);
    assert.deepEqual(a!.flags.environment, []);
  });
  test('arguments after -- keep every word but ---, including -- and flags', () => {
    const apps = parseApps(['img', '--', '-c', 'echo --exec', '--', '--name=x']);
    assert.deepEqual(apps[0]!.args, ['-c', 'echo --exec', '--', '--name=x']);
    assert.equal(apps[0]!.flags.exec, undefined);
  });
  test('empty argument list after -- is an empty list, not none', () => {
    assert.deepEqual(parseApps(['img', '--'])[0]!.args, []);
  });
  test('per-app flags in both spellings, then arguments, then the next app', () => {
    const apps = parseApps(['a.aci', '--exec', '/bin/echo', '--user=nobody', '--group', '65534', '--working-dir=/tmp', '--environment=A=1', '--environment', 'B=x=y', '--readonly-rootfs', '--name=first', '--', 'hi', '---', 'b.aci', '--name', 'second', '--caps-remove=CAP_NET_RAW,mknod']);
    assert.equal(apps.length, 2);
    const [a, b] = apps as [typeof apps[0], typeof apps[0]];
    assert.equal(a.flags.exec, '/bin/echo');
    assert.equal(a.flags.user, 'nobody');
    assert.equal(a.flags.group, '65534');
    assert.equal(a.flags.workingDir, '/tmp');
    assert.deepEqual(a.flags.environment, [['A', '1'], ['B', 'x=y']]);
    assert.equal(a.flags.readonlyRootfs, true);
    assert.equal(a.flags.name, 'first');
    assert.deepEqual(a.args, ['hi']);
    assert.equal(b.image, 'b.aci');
    assert.equal(b.flags.name, 'second');
    assert.deepEqual(b.flags.caps, { remove: ['CAP_NET_RAW', 'CAP_MKNOD'] });
    assert.equal(b.args, null);
  });
  test('two images one after the other are two apps (as rkt), and --- after flags ends an app', () => {
    assert.deepEqual(parseApps(['a', 'b']).map((x) => x.image), ['a', 'b']);
    const apps = parseApps(['a', '--exec=/x', '---', 'b']);
    assert.deepEqual(apps.map((x) => [x.image, x.flags.exec]), [['a', '/x'], ['b', undefined]]);
  });
  test('--readonly-rootfs=false and =true', () => {
    assert.equal(parseApps(['a', '--readonly-rootfs=false'])[0]!.flags.readonlyRootfs, false);
    refused(['a', '--readonly-rootfs=yes'], /--readonly-rootfs takes no value/);
  });
  test('a flag without its value', () => {
    refused(['a', '--exec'], /--exec needs a value/);
    refused(['a', '--user', '--', 'x'], /--user needs a value/);
    refused(['a', '--name', '---', 'b'], /--name needs a value/);
  });
  test('an unknown per-app flag, and a pod-level flag after the image', () => {
    refused(['a', '--bogus=1'], /unknown per-app flag --bogus for image a; per-app flags: --exec/);
    refused(['a', '-x'], /unknown per-app flag -x/);
    refused(['a', '--hostname=h'], /--hostname is a pod-level flag: give it before the first image/);
  });
  test('--- and -- without an image', () => {
    refused(['a', '---'], /'---' at the end names no image/);
    refused(['a', '--', 'x', '---'], /'---' at the end names no image/);
    refused(['a', '---', '---', 'b'], /'---' must separate two apps/);
    refused(['---', 'b'], /'---' must separate two apps/);
    refused(['a', '---', '--', 'x'], /'--' must follow an image/);
    refused(['a', '---', '--exec=/x', 'b'], /--exec is a per-app flag: give it after the image/);
    refused([], /name an image to run/);
  });
  test('duplicate --name, bad names, too many apps', () => {
    refused(['a', '--name=x', '---', 'b', '--name=x'], /two apps are named 'x'/);
    refused(['a', '--name=Bad_Name'], /app name is lower-case letters/);
    refused(Array.from({ length: MAX_APPS + 1 }, (_, i) => `img${i}`), new RegExp(`at most ${MAX_APPS} apps`));
    assert.equal(parseApps(Array.from({ length: MAX_APPS }, (_, i) => `img${i}`)).length, MAX_APPS);
  });
  test('--environment needs NAME=VALUE with a valid name', () => {
    refused(['a', '--environment=novalue'], /expected NAME=VALUE/);
    refused(['a', '--environment=1X=2'], /not a valid environment variable name/);
    assert.deepEqual(parseApps(['a', '--environment=E='])[0]!.flags.environment, [['E', '']]);
  });
  test('capabilities: known names only, retain and remove exclusive (as rkt)', () => {
    assert.deepEqual(parseApps(['a', '--caps-retain=net_admin,CAP_CHOWN'])[0]!.flags.caps, { retain: ['CAP_NET_ADMIN', 'CAP_CHOWN'] });
    refused(['a', '--caps-retain=CAP_FLY'], /unknown capability 'CAP_FLY'/);
    refused(['a', '--caps-retain=CAP_CHOWN', '--caps-remove=CAP_KILL'], /cannot both be given/);
    refused(['a', '--caps-remove=,'], /give at least one capability/);
  });
  test('--mount, --memory and --cpu after an image are that app\'s; bad quantities name the image', () => {
    const [a, b] = parseApps(['web', '--memory', '64Mi', '---', 'db', '--mount', 'volume=data,target=/data', '--mount=volume=logs,target=/logs', '--cpu=500m']);
    assert.equal(a!.flags.memory, '64Mi');
    assert.deepEqual(a!.flags.mounts, []);
    assert.equal(a!.flags.cpu, undefined);
    assert.deepEqual(b!.flags.mounts, ['volume=data,target=/data', 'volume=logs,target=/logs']);
    assert.equal(b!.flags.cpu, '500m');
    assert.equal(b!.flags.memory, undefined);
    refused(['web', '--memory', 'lots'], /^--memory for image web: lots: expected bytes/);
    refused(['web', '--memory', '1k'], /--memory for image web: 1k: at least 4Mi/);
    refused(['web', '--cpu', '1m'], /^--cpu for image web: 1m: at least 10m/);
  });
  test('the table names every flag once', () => {
    const names = PER_APP_FLAGS.map((f) => f.name);
    assert.equal(new Set(names).size, names.length);
    for (const n of ['exec', 'user', 'group', 'working-dir', 'environment', 'readonly-rootfs', 'name', 'caps-retain', 'caps-remove', 'seccomp']) assert.ok(names.includes(n), n);
  });
});

describe('--seccomp', () => {
  const bad = (v: string, re: RegExp) => assert.throws(() => parseSeccompFlag(v), (e: unknown) => e instanceof WardError && e.code === 'EUSAGE' && re.test(e.message));
  test('mode, errno and names', () => {
    assert.deepEqual(parseSeccompFlag('mode=remove,errno=EPERM,ptrace,mount,ptrace'), { mode: 'remove', errno: 'EPERM', syscalls: ['ptrace', 'mount'] });
    assert.deepEqual(parseSeccompFlag('mode=retain,read,write'), { mode: 'retain', syscalls: ['read', 'write'] });
  });
  test('groups expand to their names; unknown and unsupported groups are refused with the reason', () => {
    const g = seccompGroups();
    const r = parseSeccompFlag('mode=remove,@docker/default-blacklist');
    assert.deepEqual(r.syscalls, g.groups['@docker/default-blacklist']!.syscalls);
    assert.ok(r.syscalls.includes('keyctl'));
    bad('mode=retain,@appc.io/all', /group @appc.io\/all is not supported: /);
    bad('mode=retain,@systemd/clock', /group @systemd\/clock is not supported/);
    bad('mode=retain,@rkt/default-whitelist', /not supported/);
    bad('mode=retain,@nobody/knows', /unknown group @nobody\/knows; groups: @docker/);
  });
  test('malformed values', () => {
    bad('ptrace', /start with mode=retain or mode=remove/);
    bad('mode=keep,read', /mode must be retain or remove/);
    bad('mode=remove,errno=EWHAT,read', /errno=EWHAT is not an errno name/);
    bad('mode=remove,read,errno=EPERM', /must come first/);
    bad('mode=remove', /name at least one syscall/);
    bad('mode=remove,Read', /not a syscall name/);
  });
});
