// ward-helper: the root helper. Flags only choose where things live; what callers may do is
// policies/helper.json's to say.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { addon, stage1Path } from '../native/addon';
import { McsAllocator } from './mcs';
import { loadPolicy } from './policy';
import { compileProfile } from './seccomp';
import { Helper } from './server';
import { labelTypes } from './selinux';
import { StateDir } from './state';
import { AuditAnchor } from './tpm/audit-anchor';
import { Measurer, resolveTcti } from './tpm/measurer';
import { helperDigest } from './tpm/self-digest';
import { MDS_DEFAULT_PORT, MDS_DEFAULT_SOCKET } from '../schema/mds';
import { unregisterExitedPods } from './verbs/run-mds';
import { checkTarget } from './tpm/target';
import { hostLayout } from './cgroup/layout';
import { checkParent } from './cgroup/pod-cgroups';
import { tearDownExited } from './verbs/run-teardown';

const SHIPPED_POLICIES = path.join(__dirname, '..', '..', '..', 'policies');
const USAGE = `usage: ward-helper [--socket PATH] [--state-dir DIR] [--policy FILE] [--profiles-dir DIR]
  --socket PATH        listen here (default /run/ward/helper.sock; socket activation also works)
  --state-dir DIR      sealed trees, pods, audit log (default /var/lib/ward)
  --policy FILE        authorization policy (default /etc/ward/helper.json, else the shipped default)
  --profiles-dir DIR   seccomp profiles (default the shipped policies/seccomp)
  --tpm-tcti CONF      the TPM to measure into, overriding the policy's tpm.tcti (tpm2-tss TCTI:
                       device:/dev/tpmrm0, swtpm:host=127.0.0.1,port=2321; none: no TPM)
  --net-dir DIR        named CNI networks, *.conflist and *.conf owned by root (default /etc/ward/net.d)
  --cni-path DIR       the CNI plugins (default /usr/lib/cni)
  --default-net NAME   the network of a pod run without --net, where policy grants it (default
                       "default"; none: pods get a network only when they ask)
  --cgroup-parent P    where pods' cgroups go in each hierarchy (default ward)
  --pids-max N         the pids limit of every pod (default 0: none; every pod gets a cgroup
                       and one per app either way)
  --mds-socket PATH    the metadata service's registration socket (default /run/ward/metadata-svc.sock)
  --mds-port N         the metadata service's port as pods reach it (default 18112)
test-only (they run ward-stage1-test, a launcher built with test hooks; never use them in production):
  --test-exec-label    stage each labelled pod's exec label even where the kernel has no SELinux
  --test-proc-dir P    bind the image's directory P over /proc right before the exec label is staged
  --test-attr-file P   bind the image's file P over /proc/thread-self/attr/exec at that moment`;

function fatal(msg: string): never {
  process.stderr.write(`ward-helper: ${msg}\n`);
  process.exit(254);
}

function groupGid(name: string): number {
  for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name) return Number(gid);
  }
  fatal(`group '${name}' (the policy's socketGroup) does not exist; create it with: groupadd ${name}`);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        socket: { type: 'string', default: '/run/ward/helper.sock' },
        'state-dir': { type: 'string', default: '/var/lib/ward' },
        policy: { type: 'string' },
        'profiles-dir': { type: 'string', default: path.join(SHIPPED_POLICIES, 'seccomp') },
        'tpm-tcti': { type: 'string' },
        'net-dir': { type: 'string', default: '/etc/ward/net.d' },
        'cni-path': { type: 'string', default: '/usr/lib/cni' },
        'default-net': { type: 'string', default: 'default' },
        'cgroup-parent': { type: 'string', default: 'ward' },
        'pids-max': { type: 'string', default: '0' },
        'mds-socket': { type: 'string', default: MDS_DEFAULT_SOCKET },
        'mds-port': { type: 'string', default: String(MDS_DEFAULT_PORT) },
        'test-exec-label': { type: 'boolean' },
        'test-proc-dir': { type: 'string' },
        'test-attr-file': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    fatal(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (process.getuid?.() !== 0) fatal('must run as root (it is the privileged half of ward); start it with sudo or systemd');
  const policyFile = values.policy ?? (fs.existsSync('/etc/ward/helper.json') ? '/etc/ward/helper.json' : path.join(SHIPPED_POLICIES, 'helper.json'));
  let policy;
  try {
    policy = loadPolicy(policyFile);
  } catch (e) {
    fatal((e as Error).message);
  }
  const state = new StateDir(path.resolve(values['state-dir']));
  try {
    state.init();
  } catch (e) {
    fatal((e as Error).message);
  }
  // The test hooks exist only in ward-stage1-test; the production launcher rejects their keys.
  const testHooks = Boolean(values['test-exec-label'] || values['test-proc-dir'] || values['test-attr-file']);
  const stage1File = testHooks ? path.join(path.dirname(stage1Path()), 'ward-stage1-test') : stage1Path();
  // ward-stage1 runs from a sealed in-memory copy: nothing in a pod can reach or rewrite it.
  let stage1;
  try {
    stage1 = addon().sealedMemfd(stage1File, 'ward-stage1');
  } catch (e) {
    fatal(`cannot load ward-stage1 from ${stage1File}: ${(e as Error).message}; run npm run build`);
  }
  // SELinux: the host's container types (a malformed lxc_contexts stops the helper: fail
  // closed), and the MCS allocator, whose pairs outlive the helper as long as their pods do.
  let selinux;
  try {
    const mcs = new McsAllocator(state.mcs);
    mcs.init();
    const freed = mcs.reclaim((owner) => fs.existsSync(state.pod(owner)));
    if (freed > 0) process.stderr.write(`ward-helper: released ${freed} MCS pair(s) of pods that no longer exist\n`);
    selinux = {
      policy: policy.selinux,
      types: labelTypes(policy.selinux.mode === 'off' ? null : undefined),
      mcs,
      test: { execLabel: Boolean(values['test-exec-label']), procDir: values['test-proc-dir'], attrFile: values['test-attr-file'] },
    };
  } catch (e) {
    fatal(`SELinux set-up: ${(e as Error).message}`);
  }
  // The profile is compiled once, now: one that does not compile stops the helper (fail closed).
  const profileFile = path.join(path.resolve(values['profiles-dir']), `${policy.seccompProfile}.json`);
  let seccomp;
  try {
    const compiled = compileProfile(state.root, profileFile);
    seccomp = { digest: compiled.digest, bpfPath: path.join(state.seccomp, `${compiled.digest.replace(/^sha256:/, '')}.bpf`), profile: compiled.profile };
  } catch (e) {
    fatal(`${(e as Error).message}; fix the profile or the policy's seccompProfile`);
  }
  // TPM: a target that can prove nothing stops the helper; a TPM not reachable yet does not
  // (pods are then refused or run unmeasured, as the policy says). WARD_FAULT is test-only.
  const tpmNote = (t: string) => process.stderr.write(`ward-helper: tpm: ${t}\n`);
  let measurer;
  try {
    const warning = checkTarget(policy.tpm.target);
    measurer = new Measurer({ policy: policy.tpm, tcti: resolveTcti(values['tpm-tcti'], policy.tpm), dir: path.join(state.root, 'tpm'), fault: process.env.WARD_FAULT, note: tpmNote });
    if (warning && measurer.configured) tpmNote(`warning: ${warning}`);
  } catch (e) {
    fatal(`TPM set-up: ${(e as Error).message}`);
  }
  // cgroups: read from the host's mounts now; a host without the controllers stops the helper.
  let cgroups;
  try {
    const pids = values['pids-max'];
    if (!/^\d{1,9}$/.test(pids)) throw new Error(`--pids-max ${pids} must be a number (0: no limit)`);
    cgroups = { layout: hostLayout(), parent: checkParent(values['cgroup-parent']), pidsMax: Number(pids) === 0 ? null : Number(pids) };
  } catch (e) {
    fatal(`cgroups: ${(e as Error).message}`);
  }
  const defaultNet = values['default-net'];
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(defaultNet)) fatal(`--default-net ${defaultNet} is not a network name`);
  const net = { netDir: path.resolve(values['net-dir']), cniPath: path.resolve(values['cni-path']), ipamDir: path.join(state.root, 'cni', 'ipam'), podsDir: path.join(state.root, 'net'), defaultNet };
  const mdsPort = Number(values['mds-port']);
  if (!/^\d{1,5}$/.test(values['mds-port']) || mdsPort < 1 || mdsPort > 65535) fatal(`--mds-port: '${values['mds-port']}' is not a port number`);
  const socketPath = path.resolve(values.socket);
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  const activated = process.env.LISTEN_PID === String(process.pid) && process.env.LISTEN_FDS === '1' ? 3 : null;
  const helper = new Helper({
    socketPath,
    socketGroupGid: groupGid(policy.socketGroup),
    state,
    policy,
    seccomp,
    stage1Fd: stage1.fd,
    stage1Digest: `sha256:${stage1.sha256}`,
    measurer,
    helperDigest: helperDigest(),
    selinux,
    net,
    cgroups,
    mds: { socket: path.resolve(values['mds-socket']), port: mdsPort },
  });
  // The audit head as it is now goes into the TPM first; a TPM slow to answer does not hold up
  // listening (measurements queue behind it, and wait or fail as the policy says).
  const anchor = new AuditAnchor(measurer, helper.audit, policy.tpm.auditInterval, tpmNote);
  void measurer.start();
  void anchor.start();
  unregisterExitedPods(helper.opts.mds!, state.podStore);
  tpmNote(measurer.describe());
  try {
    await helper.listen(activated);
  } catch (e) {
    fatal(`cannot listen on ${socketPath}: ${(e as Error).message}`);
  }
  for (const uuid of await helper.stopOrphans()) process.stderr.write(`ward-helper: stopped foreground pod ${uuid}, whose caller's connection ended with the previous helper\n`);
  // Networks and cgroups of pods that exited while no helper ran go now (gc would too).
  void tearDownExited(helper);
  process.stderr.write(`ward-helper: listening on ${activated === null ? socketPath : 'the socket systemd passed'} (state ${state.root}, policy ${policyFile}, stage1 sha256:${stage1.sha256})\n`);
  const stop = () => {
    // Running pods can hold the server open: anchor the audit head after a second at most.
    void Promise.race([helper.close(), new Promise((r) => setTimeout(r, 1000))])
      .then(() => anchor.stop())
      .then(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
