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
