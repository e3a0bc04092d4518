// ward version
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('version')
    .description('print the version of ward')
    .action(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pkg = require('../../../package.json') as { version: string };
      process.stdout.write(`ward version ${pkg.version}\n`);
    });
}
