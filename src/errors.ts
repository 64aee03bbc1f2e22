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
