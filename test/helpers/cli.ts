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
