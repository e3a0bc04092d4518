// The appc ACE validator (appc/spec ace/) under ward: its two ACIs as one pod, run by an
// unprivileged user, with the metadata service, an empty volume shared by the two apps, the
// main app's pre-start and post-stop handlers, on the default network. Where a piece it needs
// is missing from ward run, it says which, and shows what the validator said with what there is.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildAceAcis, buildValidator, validatorMissing } from '../lib/ace';
import { TestEnv } from '../lib/env';
import { MdsProcess } from '../lib/mds';

/** What ward must offer for the validator's pod, and how `ward run --help` shows it. */
const NEEDS: [string, RegExp][] = [
  ['several apps per pod (IMG1 ... --- IMG2)', /---/],
  ['--volume (an empty volume shared by both apps)', /--volume\b/],
  ['--net (the pod on the default network, where it reaches the metadata service)', /--net\b/],
  ['--mds-register', /--mds-register\b/],
];

describe('appc ACE validator', () => {
  const env = new TestEnv('ace');
  const mds = new MdsProcess();
  let acis: { main: string; sidekick: string };

  before(async () => {
    const missing = validatorMissing();
    if (missing) throw new Error(`the ACE validator cannot be built: ${missing}`);
    acis = await buildAceAcis(env.fixtures, buildValidator());
    // On every address: the pod reaches it at the host's end of its network.
    await mds.start(['--listen-address', '0.0.0.0']);
    await env.start(['--mds-socket', mds.socket, '--mds-port', String(mds.port)]);
  });
  after(async () => {
    await env.stop();
    await mds.cleanup();
  });

  test('main and sidekick pass: working directory, PATH, environment, AC_APP_NAME, mount points, a shared volume, event handlers, the metadata service', async () => {
    const help = await env.ward('a', ['run', '--help']);
    const lacking = NEEDS.filter(([, re]) => !re.test(help.stdout)).map(([what]) => what);
    if (lacking.length > 0) {
      // With what there is: the validator's main app alone, registered when the pod can be networked.
      const args = ['run', '--insecure-options=image', ...(lacking.some((l) => l.startsWith('--net')) ? [] : ['--net=default', '--mds-register']), acis.main];
      const r = await env.ward('a', args, { timeoutMs: 60_000 });
      assert.fail(`ward lacks what the ACE validator needs: ${lacking.join('; ')}.\nWith what there is, \`ward ${args.slice(0, -1).join(' ')} ace-validator-main.aci\` exited ${r.code}:\n${r.stdout}${r.stderr}`);
    }
    const args = ['run', '--insecure-options=image', '--mds-register', '--net=default', '--volume', 'database,kind=empty', acis.main, '---', acis.sidekick];
    const r = await env.ward('a', args, { timeoutMs: 120_000 });
    const out = r.stdout + r.stderr;
    const said = `\`ward ${args.join(' ')}\` exited ${r.code}:\n${out}\nmetadata service:\n${mds.log}`;
    for (const stage of ['prestart', 'main', 'sidekick', 'poststop']) assert.match(out, new RegExp(`^${stage} OK$`, 'm'), `${stage} did not report OK; ${said}`);
    assert.doesNotMatch(out, /FAIL|==>/, said);
    assert.equal(r.code, 0, said);
  });
});
