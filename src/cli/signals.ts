/**
 * Stop requests: Ctrl-C (SIGINT) and SIGTERM (what a scheduler such as Slurm sends before it kills
 * a job) both abort the returned signal, so the running stage finishes its step, saves a
 * checkpoint and stops; the signal's name becomes the AbortSignal's reason, which picks the exit
 * code. A second request quits at once.
 */
export interface StopSignals {
  signal: AbortSignal;
  dispose(): void;
}

export function stopOnSignals(log: (line: string) => void, what: string): StopSignals {
  const abort = new AbortController();
  const on = (sig: 'SIGINT' | 'SIGTERM') => () => {
    if (abort.signal.aborted) process.exit(sig === 'SIGTERM' ? 143 : 130);
    log(`\n${sig === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'}: ${what} (press Ctrl-C again to quit at once)`);
    abort.abort(sig);
  };
  const onInt = on('SIGINT');
  const onTerm = on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: abort.signal,
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
