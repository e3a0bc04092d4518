// ward: the unprivileged frontend. Each command lives in its own file; this one wires them up
// and turns failures into one line and an exit status.
import { Command, CommanderError } from 'commander';
import { WardError } from '../schema/errors';
import { EXIT, exitCodeFor } from './exit-codes';

type Register = (program: Command) => void;
/**
 * Every command, loaded only when named: `ward run` need not compile the image, TPM and audit
 * commands (start-up time is a target). Help and unknown commands load them all.
 */
const COMMANDS: Record<string, () => Register> = {
  run: () => (require('./run') as typeof import('./run')).register,
  prepare: () => (require('./prepare') as typeof import('./prepare')).register,
  'run-prepared': () => (require('./run-prepared') as typeof import('./run-prepared')).register,
  list: () => (require('./list') as typeof import('./list')).register,
  status: () => (require('./status') as typeof import('./status')).register,
  stop: () => (require('./stop') as typeof import('./stop')).register,
  rm: () => (require('./rm') as typeof import('./rm')).register,
  gc: () => (require('./gc') as typeof import('./gc')).register,
  'cat-manifest': () => (require('./cat-manifest') as typeof import('./cat-manifest')).register,
  enter: () => (require('./enter') as typeof import('./enter')).register,
  export: () => (require('./export') as typeof import('./export')).register,
  fetch: () => (require('./fetch') as typeof import('./fetch')).register,
  image: () => (require('./image') as typeof import('./image')).register,
  tpm: () => (require('./tpm') as typeof import('./tpm')).register,
  audit: () => (require('./audit') as typeof import('./audit')).register,
  trust: () => (require('./trust') as typeof import('./trust')).register,
  version: () => (require('./version') as typeof import('./version')).register,
  'metadata-service': () => (require('./metadata-service') as typeof import('./metadata-service')).register,
};

const program = new Command('ward')
  .description('a security-hardened, privilege-separated container runtime')
  .option('--dir <dir>', 'the image store (default ~/.local/share/ward)')
  .option('--helper-socket <path>', 'the ward-helper socket (default /run/ward/helper.sock, or $WARD_HELPER_SOCKET)')
  .option('--insecure-options <list>', 'disable checks: image')
  .option('--system-config <dir>', 'shipped trust configuration (default /usr/lib/ward)')
  .option('--local-config <dir>', "the host's trust configuration (default /etc/ward)")
  .option('--user-config <dir>', "the caller's trust configuration (default ~/.config/ward)")
  // Global flags come before the command: after an image, words belong to its app (rkt's syntax).
  .enablePositionalOptions()
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `ward: ${s.slice(7)}` : s) })
  .showSuggestionAfterError(true);
/** The command named on the command line: the first word that is not a global option or its value. */
function commandName(args: string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return null;
    if (!a.startsWith('-')) return a;
    const opt = program.options.find((o) => o.long === a.split('=')[0] || o.short === a);
    if (!opt) return null;
    if ((opt.required || opt.optional) && !a.includes('=')) i++;
  }
  return null;
}

const named = commandName(process.argv.slice(2));
for (const load of named && COMMANDS[named] ? [COMMANDS[named]] : Object.values(COMMANDS)) load()(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : EXIT.usage;
    return;
  }
  if (e instanceof WardError) {
    process.stderr.write(`ward: ${e.message}\n`);
    process.exitCode = exitCodeFor(e.code);
    return;
  }
  process.stderr.write(`ward: internal error: ${(e as Error).stack ?? e}\n`);
  process.exitCode = EXIT.failure;
});
