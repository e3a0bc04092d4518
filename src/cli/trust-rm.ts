// ward trust rm FINGERPRINT: stop trusting a key. The caller's own copies are removed; copies in
// the dirs below (system, or local for a user) are masked with empty files, as rkt masks them.
import type { Command } from 'commander';
import { globals } from './globals';

export function register(trust: Command): void {
  trust
    .command('rm')
    .description('stop trusting a key (for every prefix it is trusted for)')
    .argument('<fingerprint>', 'the key fingerprint (ward trust list)')
    .action(async (fingerprint: string, _opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const { Keystore } = await import('../trust/keystore');
      const target = process.getuid?.() === 0 ? g.config.local : g.config.user;
      for (const line of new Keystore(g.config).remove(target, fingerprint.replace(/\s+/g, ''))) process.stdout.write(`${line}\n`);
    });
}
