// Environment precedence, as rkt v1.30 (stage0 generatePodManifest): image < --environment, then
// --inherit-env fills only unset names, then --set-env-file, then --set-env; AC_APP_NAME last.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { WardError } from '../../src/schema/errors';
import { appEnvironment, parseSetEnv, readEnvFile } from '../../src/pod/app-env';

const asMap = (l: { name: string; value: string }[]) => Object.fromEntries(l.map((e) => [e.name, e.value]));

test('each level overrides the one below it, and inherited variables only fill gaps', () => {
  const image = [{ name: 'I', value: 'image' }, { name: 'E', value: 'image' }, { name: 'F', value: 'image' }, { name: 'S', value: 'image' }, { name: 'H', value: 'image' }];
  const env = asMap(appEnvironment(image, [['E', 'environment'], ['F', 'environment'], ['S', 'environment']], {
    inherited: { H: 'host', ONLYHOST: 'host', F: 'host', 'BAD NAME': 'x', PATH: '/host/bin' },
    fromFile: [['F', 'file'], ['S', 'file'], ['FILEONLY', 'file']],
    explicit: [['S', 'set-env'], ['AC_APP_NAME', 'spoofed']],
  }, 'web'));
  assert.equal(env.I, 'image');
  assert.equal(env.E, 'environment');
  assert.equal(env.H, 'image', '--inherit-env does not override the image');
  assert.equal(env.ONLYHOST, 'host');
  assert.equal(env.F, 'file');
  assert.equal(env.FILEONLY, 'file');
  assert.equal(env.S, 'set-env');
  assert.equal(env.PATH, '/host/bin', 'an inherited PATH fills the unset PATH');
  assert.equal(env['BAD NAME'], undefined);
  assert.equal(env.AC_APP_NAME, 'web');
});

test('without any flag: the image and a default PATH, as before', () => {
  const env = asMap(appEnvironment([{ name: 'X', value: '1' }], [], { fromFile: [], explicit: [] }, 'app'));
  assert.deepEqual(env, { X: '1', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', AC_APP_NAME: 'app' });
  assert.equal(asMap(appEnvironment([{ name: 'PATH', value: '/img' }], [], { fromFile: [], explicit: [] }, 'app')).PATH, '/img');
});

test('--set-env and --set-env-file syntax', () => {
  assert.deepEqual(parseSetEnv(['A=1', 'B=', 'C=x=y']), [['A', '1'], ['B', ''], ['C', 'x=y']]);
  assert.throws(() => parseSetEnv(['=1']), (e: unknown) => e instanceof WardError && e.code === 'EUSAGE');
  assert.throws(() => parseSetEnv(['NOVALUE']), /expected NAME=VALUE/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-env-'));
  try {
    const f = path.join(dir, 'env');
    fs.writeFileSync(f, '# comment\n\nA=1\r\nB=two words\n  # indented comment\n');
    assert.deepEqual(readEnvFile(f), [['A', '1'], ['B', 'two words']]);
    fs.writeFileSync(f, 'A=1\nnot a line\n');
    assert.throws(() => readEnvFile(f), /env:2: expected NAME=VALUE/);
    assert.throws(() => readEnvFile(path.join(dir, 'missing')), (e: unknown) => e instanceof WardError && e.code === 'EUSAGE');
    assert.throws(() => readEnvFile(dir), /not a regular file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
