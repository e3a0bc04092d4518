// The appc ACE validator (appc/spec ace/): built offline from Debian's golang-github-appc-spec-dev
// with golang-go, and its two ACIs assembled as appc's scripts/build-ace-validator-acis does
// (the static binary at /ace-validator, an empty /opt/acvalidator, the manifests of
// ace/image_manifest_{main,sidekick}.json.in with os and arch filled in). The build is cached
// under the temp dir by the digest of the Go sources and the toolchain, so a suite builds it once.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { tarOf, type Entry } from './layers';

export const GOPATH = '/usr/share/gocode';
export const ACE_PACKAGE = 'github.com/appc/spec/ace';
const GO_ENV = { CGO_ENABLED: '0', GO111MODULE: 'off', GOPATH, GOFLAGS: '', GOTOOLCHAIN: 'local' };

/** What the validator needs to be built; null when it can be. */
export function validatorMissing(): string | null {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return 'no Go toolchain (go); install golang-go (scripts/setup.sh has it)';
  }
  if (!fs.existsSync(path.join(GOPATH, 'src', ACE_PACKAGE, 'validator.go'))) return `no ${ACE_PACKAGE} under ${GOPATH}; install golang-github-appc-spec-dev (scripts/setup.sh has it)`;
  return null;
}

/** sha256 over the toolchain's version and every Go file of the validator and its non-standard dependencies. */
function sourceDigest(env: NodeJS.ProcessEnv): string {
  const dirs = execFileSync('go', ['list', '-deps', '-f', '{{if not .Standard}}{{.Dir}}{{end}}', ACE_PACKAGE], { env, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  const h = crypto.createHash('sha256');
  h.update(execFileSync('go', ['version'], { env, encoding: 'utf8' }));
  for (const dir of dirs) {
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.go')).sort()) {
      h.update(`${path.join(dir, f)}\0`);
      h.update(fs.readFileSync(path.join(dir, f)));
    }
  }
  return h.digest('hex').slice(0, 32);
}

/** The static validator binary, built (or found built) for these sources. */
export function buildValidator(): string {
  const missing = validatorMissing();
  if (missing) throw new Error(`cannot build the ACE validator: ${missing}`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-ace-build-'));
  const env = { ...process.env, ...GO_ENV, GOCACHE: path.join(scratch, 'gocache') };
  try {
    const cacheDir = path.join(os.tmpdir(), `ward-ace-validator-${sourceDigest(env)}`);
    const bin = path.join(cacheDir, 'ace-validator');
    if (fs.existsSync(bin)) return bin;
    const out = path.join(scratch, 'ace-validator');
    execFileSync('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', out, ACE_PACKAGE], { env, cwd: scratch, stdio: ['ignore', 'ignore', 'pipe'] });
    const head = fs.readFileSync(out).subarray(0, 4);
    if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) throw new Error('go build did not make an ELF binary');
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
    // Renamed into place whole: a concurrent build never sees half a binary.
    const tmp = path.join(cacheDir, `.ace-validator.${process.pid}`);
    fs.copyFileSync(out, tmp);
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, bin);
    return bin;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** appc's ACI arch names (scripts/build-ace-validator-acis: arm64 is aarch64). */
function aciArch(): string {
  const arch = os.arch();
  return arch === 'x64' ? 'amd64' : arch === 'arm64' ? 'aarch64' : arch;
}

const labels = () => [{ name: 'version', value: '0.8.11' }, { name: 'os', value: 'linux' }, { name: 'arch', value: aciArch() }];

/** appc/spec ace/image_manifest_main.json.in (0.8.11). */
export function mainManifest(): object {
  return {
    acVersion: '0.8.11',
    acKind: 'ImageManifest',
    name: 'coreos.com/ace-validator-main',
    labels: labels(),
    app: {
      exec: ['/ace-validator', 'main'],
      eventHandlers: [
        { name: 'pre-start', exec: ['/ace-validator', 'prestart'] },
        { name: 'post-stop', exec: ['/ace-validator', 'poststop'] },
      ],
      user: '0',
      group: '0',
      workingDirectory: '/opt/acvalidator',
      environment: [{ name: 'IN_ACE_VALIDATOR', value: 'correct' }],
      mountPoints: [{ name: 'database', path: '/db', readOnly: false }],
      ports: [{ name: 'www', protocol: 'tcp', port: 80 }],
      isolators: [{ name: 'resource/memory', value: { limit: '1G' } }],
    },
    annotations: [
      { name: 'created', value: '2014-10-27T19:32:27.67021798Z' },
      { name: 'authors', value: 'Carly Container <carly@example.com>, Nat Network <nat@example.com>' },
      { name: 'homepage', value: 'https://github.com/appc/spec' },
      { name: 'documentation', value: 'https://github.com/appc/spec/blob/master/README.md' },
      { name: 'lorem', value: 'ipsum' },
    ],
  };
}

/** appc/spec ace/image_manifest_sidekick.json.in (0.8.11). */
export function sidekickManifest(): object {
  return {
    acVersion: '0.8.11',
    acKind: 'ImageManifest',
    name: 'coreos.com/ace-validator-sidekick',
    labels: labels(),
    app: {
      exec: ['/ace-validator', 'sidekick'],
      user: '0',
      group: '0',
      mountPoints: [{ name: 'database', path: '/db', readOnly: false }],
    },
  };
}

async function writeAci(out: string, manifest: object, validator: Buffer): Promise<void> {
  const entries: Entry[] = [
    { name: 'manifest', mode: 0o644, body: JSON.stringify(manifest, null, 4) },
    { name: 'rootfs', type: 'directory', mode: 0o755 },
    { name: 'rootfs/ace-validator', mode: 0o755, body: validator },
    { name: 'rootfs/opt', type: 'directory', mode: 0o755 },
    { name: 'rootfs/opt/acvalidator', type: 'directory', mode: 0o755 },
  ];
  fs.writeFileSync(out, zlib.gzipSync(await tarOf(entries), { level: 1 }), { mode: 0o644 });
}

/** Writes ace-validator-main.aci and ace-validator-sidekick.aci into dir. */
export async function buildAceAcis(dir: string, validatorBin: string): Promise<{ main: string; sidekick: string }> {
  const validator = fs.readFileSync(validatorBin);
  const main = path.join(dir, 'ace-validator-main.aci');
  const sidekick = path.join(dir, 'ace-validator-sidekick.aci');
  await writeAci(main, mainManifest(), validator);
  await writeAci(sidekick, sidekickManifest(), validator);
  return { main, sidekick };
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: ace DIR   (writes the validator\'s two ACIs into DIR)\n');
    process.exit(2);
  }
  void buildAceAcis(dir, buildValidator()).then((r) => process.stdout.write(`${r.main}\n${r.sidekick}\n`));
}
