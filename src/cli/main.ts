/**
 * The CLI entry: the only place that sets exit codes. User errors (config, data, checkpoint,
 * run folder, and file-system faults such as a full disk) print one message and exit 2; an interrupted run exits 130 (SIGINT) or 143 (SIGTERM); anything else is a bug
 * and prints its stack, exit 1.
 */
import { CommanderError } from 'commander';
import { fileSystemFault, isUserError, InterruptedError } from '../errors.js';
import { LockWaitInterrupted } from '../io/lock.js';
import { buildProgram } from './program.js';

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'node' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version are "errors" with exit code 0; usage errors are user errors.
      return e.exitCode === 0 ? 0 : 2;
    }
    const user = isUserError(e) ? e : fileSystemFault(e);
    if (user) {
      process.stderr.write(`adagrpo: error: ${user.message}\n`);
      return 2;
    }
    if (e instanceof InterruptedError || e instanceof LockWaitInterrupted) {
      process.stderr.write(`adagrpo: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`adagrpo: internal error (a bug; please report it with this trace):\n${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

// `adagrpo report ... | head` closes stdout early: that is the reader's choice, not a bug.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
