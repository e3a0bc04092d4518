// ward trust [--prefix=NAME | --root] [--skip-fingerprint-review] [KEYFILE|URL...]: trust public
// keys for signing ACIs. Without a key, the prefix's ac-discovery-pubkeys are fetched (https).
// Each key is shown (fingerprint, user ids) and confirmed on a terminal before it is stored; as
// root into the local config dir (/etc/ward), otherwise into the caller's (~/.config/ward).
import fs from 'node:fs';
import type { Command } from 'commander';
import { WardError } from '../schema/errors';
import { globals, parseInsecure } from './globals';
import { register as registerList } from './trust-list';
import { register as registerRm } from './trust-rm';

interface TrustFlags {
  prefix?: string;
  root?: boolean;
  skipFingerprintReview?: boolean;
  insecureOptions?: string;
}

async function confirm(question: string): Promise<boolean> {
  const readline = await import('node:readline/promises');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function register(program: Command): void {
  const trust = program
    .command('trust')
    .description('trust public keys to sign ACIs: for every image (--root) or for names under a prefix')
    .argument('[keys...]', 'armored or binary public key files, or https URLs; none: ac-discovery-pubkeys of --prefix')
    .option('--prefix <name>', 'trust the keys for images named NAME or NAME/...')
    .option('--root', 'trust the keys for every image')
    .option('--skip-fingerprint-review', 'trust without showing and confirming each key (needed without a terminal)')
    .option('--insecure-options <list>', 'http (fetch keys over plain http), tls; comma-separated')
    .action(async (keys: string[], flags: TrustFlags, cmd: Command) => {
      const g = globals(cmd);
      const insecure = new Set<string>([...g.insecureOptions, ...parseInsecure(flags.insecureOptions)]);
      if (!!flags.prefix === !!flags.root) throw new WardError('EUSAGE', 'ward trust: give exactly one of --prefix=NAME and --root');
      const { checkPrefix, Keystore } = await import('../trust/keystore');
      const scope = flags.root ? 'root' : checkPrefix(flags.prefix!);
      const interactive = !flags.skipFingerprintReview;
      if (interactive && !(process.stdin.isTTY && process.stderr.isTTY)) {
        throw new WardError('EUSAGE', 'ward trust: no terminal to review the key fingerprint on; check the fingerprint another way and pass --skip-fingerprint-review');
      }
      const { discoverPubkeys, fetchKeyBytes } = await import('../image/discovery');
      const sources = keys.length > 0 ? keys : scope === 'root' ? [] : await discoverPubkeys(scope, { insecure });
      if (sources.length === 0) throw new WardError('EUSAGE', 'ward trust --root: give the key files or URLs');
      const { describeKey, readPublicKey, trustProblem } = await import('../trust/pgp');
      const store = new Keystore(g.config);
      // As rkt: the host's keystore when root, else the caller's own.
      const target = process.getuid?.() === 0 ? g.config.local : g.config.user;
      for (const src of sources) {
        let bytes: Buffer;
        if (/^https?:\/\//.test(src)) {
          if (src.startsWith('http:') && !insecure.has('http')) throw new WardError('EUSAGE', `key ${src} is plain http; use https, or pass --insecure-options=http`);
          bytes = await fetchKeyBytes(src, { insecure });
        } else {
          try {
            const file = src.replace(/^file:\/\//, '');
            // Public keys are kilobytes; a huge file is a mistake, not a key.
            if (fs.statSync(file).size > 1 << 20) throw new WardError('EUSAGE', `key ${src} is larger than 1 MiB; give a public key file`);
            bytes = fs.readFileSync(file);
          } catch (e) {
            if (e instanceof WardError) throw e;
            throw new WardError('EUSAGE', `cannot read key ${src}: ${(e as NodeJS.ErrnoException).code}; check the path`);
          }
        }
        const key = await readPublicKey(bytes, `key ${src}`);
        const d = await describeKey(key);
        const problem = await trustProblem(key);
        if (problem) throw new WardError('ESIGNATURE', `key ${d.fingerprint} from ${src} cannot sign images: ${problem}; get a current key from its publisher`);
        const scopeText = scope === 'root' ? 'every image' : `images named ${scope} or ${scope}/...`;
        if (interactive) {
          process.stderr.write(`Key from ${src}:\n  fingerprint ${d.fingerprint}\n  algorithm   ${d.algorithm}\n  created     ${d.created}${d.expires ? `, expires ${d.expires}` : ''}\n${d.userIds.map((u) => `  user id     ${u}\n`).join('')}`);
          if (!(await confirm(`Trust this key to sign ${scopeText}? (yes/no) `))) throw new WardError('EUSAGE', `key ${d.fingerprint} not trusted: the review was declined`);
        }
        const file = store.add(target, scope, d.fingerprint, key.armor());
        process.stdout.write(`trusted ${d.fingerprint} for ${scopeText}: ${file}\n`);
      }
    });
  registerList(trust);
  registerRm(trust);
}
