/**
 * A mistake the user can fix (config, data, checkpoint, run folder). The CLI prints its message
 * alone and exits 2; any other error is a bug and is printed with its stack, exit 1.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/**
 * Thrown after a stop request (Ctrl-C = SIGINT, or SIGTERM from a scheduler): by a stage once it
 * saved a checkpoint (`step` = the saved step), or by a sweep between runs (`step` = runs
 * finished, nothing to save). `advice` says how to continue: train's --resume by default; a sweep
 * continues by running the same command again. `signal` (the AbortSignal's reason) picks the
 * exit code: 130 after SIGINT, 143 after SIGTERM, as shells report them.
 */
export class InterruptedError extends Error {
  constructor(
    readonly stage: string,
    readonly step: number,
    readonly advice = 'Continue with --resume.',
    readonly signal: unknown = 'SIGINT',
  ) {
    super(
      stage === 'sweep'
        ? `sweep interrupted after ${step} run${step === 1 ? '' : 's'}; finished runs are kept. ${advice}`
        : `interrupted during ${stage} at step ${step}; a checkpoint was saved. ${advice}`,
    );
    this.name = 'InterruptedError';
  }

  get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : 130;
  }
}

/**
 * Thrown when a loss or gradient norm becomes NaN or Inf. Training diverged: the user fixes it
 * (learning rate, data), so it is a user error (exit 2), not a bug. It names the stage and step,
 * and the checkpoint that is kept, if the stage had saved one.
 */
export class NonFiniteLossError extends UserError {
  constructor(
    readonly stage: string,
    readonly step: number,
    readonly what: string,
    /** Step of the newest checkpoint the stage saved before it diverged; null when none was saved. */
    readonly lastCheckpoint: number | null = null,
  ) {
    super(
      `${stage}: ${what} is not finite at step ${step}; stopped. ` +
        (lastCheckpoint === null ? 'No checkpoint of this stage had been saved yet. ' : `The last good checkpoint (step ${lastCheckpoint}) is kept. `) +
        `Lower the learning rate (${stage}.lr) or check the data, and start a new run.`,
    );
    this.name = 'NonFiniteLossError';
  }
}

/** What a file-system fault means and what the user does about it, by errno code. */
const FS_FAULTS: Record<string, string> = {
  ENOSPC: 'no space left on the device. Free space there (old run folders, <runsDir>/_stages entries, data/processed caches) or point runsDir at another disk; an interrupted run then continues with --resume from its last checkpoint',
  EDQUOT: 'disk quota exceeded. Free space or raise the quota; an interrupted run then continues with --resume from its last checkpoint',
  EROFS: 'the file system is read-only. Use a writable location (--set runsDir=... for runs), or copy the folder somewhere writable',
  EACCES: 'permission denied. Make it writable (chmod/chown), or use another location (--set runsDir=... for runs)',
  EPERM: 'operation not permitted. Check the permissions of the path, or use another location',
  ENOTDIR: 'a part of the path is a file, not a folder. Move the file away or choose another path (e.g. --set runsDir=...)',
  EISDIR: 'it is a folder, where a file was expected. Choose another path',
  EEXIST: 'a file of that name exists where a folder is needed. Move the file away or choose another path',
};

/**
 * A file-system fault the user can fix (full disk, read-only or foreign path) as a UserError:
 * what failed, on which path, and what to do. Null for any other error (a bug keeps its stack).
 */
export function fileSystemFault(e: unknown): UserError | null {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof err.code !== 'string' || typeof err.syscall !== 'string' || !(err.code in FS_FAULTS)) return null;
  const where = err.path ? ` ${err.path}` : '';
  return new UserError(`cannot ${err.syscall}${where}: ${FS_FAULTS[err.code]}.`);
}
