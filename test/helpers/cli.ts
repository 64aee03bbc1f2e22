import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real CLI entry (bin/adagrpo, which loads dist/cli/main.js). */
export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'adagrpo');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `adagrpo ...args` in `cwd` with a plain (non-TTY) environment. */
export function runCli(args: string[], cwd: string, timeoutMs = 240_000): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, CI: '1', FORCE_COLOR: '0' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under dir, relative (to prove "nothing was written"). */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

/**
 * Run `adagrpo ...args` and press Ctrl-C (SIGINT) as soon as stderr matches `when`: how a user
 * interrupts a long run. Resolves with the exit code and everything written to stderr.
 */
export function runCliInterrupted(args: string[], cwd: string, when: RegExp): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  return new Promise((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (when.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

/** Rows of `stage` in a run's metrics.jsonl (complete lines only). */
export function countRows(runDir: string, stage: string): number {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return 0;
  return fs.readFileSync(file, 'utf8').split('\n').slice(0, -1).filter((l) => l.includes(`"stage":"${stage}"`)).length;
}

/**
 * Run `adagrpo ...args` and send `signal` once the run folder's metrics.jsonl holds `rows` rows of
 * `stage` and this process has written at least one of them (so a resumed process is training, its
 * signal handlers installed): a kill at a point of training chosen by the caller, landing wherever
 * the process is by then (mid-step, mid-checkpoint, mid-append). Resolves with the exit code (null after SIGKILL),
 * the signal that ended it, and stderr.
 */
export function runCliKilledAt(
  args: string[],
  cwd: string,
  at: { runDir: string; stage: string; rows: number; signal: NodeJS.Signals },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; sent: boolean }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, CI: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let sent = false;
  const dir = path.resolve(cwd, at.runDir);
  // A resumed stage first cuts its rows back to its checkpoint: wait for a row past those.
  let low = countRows(dir, at.stage);
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const poll = setInterval(() => {
    const n = countRows(dir, at.stage);
    low = Math.min(low, n);
    if (!sent && n >= Math.max(at.rows, low + 1)) {
      sent = true;
      child.kill(at.signal);
    }
  }, 5);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, stderr, sent });
    });
  });
}

/**
 * Mount a tmpfs at `dir` (made if missing) with mount options such as `size=200k` or `ro`. Returns
 * null when mounting works, else why it was refused (not root, no mount in a container), for the
 * caller to skip with that reason. Unmount with `unmount(dir)` before the test ends.
 */
export function mountTmpfs(dir: string, options: string): string | null {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error) return `mount could not run: ${r.error.message}`;
  return r.status === 0 ? null : `mount -t tmpfs -o ${options} was refused: ${r.stderr.trim() || `exit ${r.status}`}`;
}

export function remountTmpfs(dir: string, options: string): void {
  const r = spawnSync('mount', ['-o', `remount,${options}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`remount ${dir} ${options}: ${r.stderr}`);
}

export function unmount(dir: string): void {
  spawnSync('umount', [dir]);
}

/**
 * Metrics rows of a run without what legitimately differs between two runs of one computation:
 * wall-clock time and throughput (`seconds`, `tokensPerSec`, `stepsPerSec`, `usersPerSec`).
 */
export function comparableRows(runDir: string): Record<string, unknown>[] {
  const THROUGHPUT = new Set(['time', 'seconds', 'tokensPerSec', 'stepsPerSec', 'usersPerSec']);
  return fs
    .readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => Object.fromEntries(Object.entries(JSON.parse(l) as Record<string, unknown>).filter(([k]) => !THROUGHPUT.has(k))));
}
