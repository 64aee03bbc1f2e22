/**
 * Which stage's policy a command reads from a run folder (eval, stratify): the RL policy when the
 * run's RL stage has saved a checkpoint, else the SFT policy; `--stage` overrides it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { resolveStageDir } from './stages.js';

/** The stage whose policy is evaluated by default: rl when it has saved a checkpoint, else sft. */
export function defaultStage(runDir: string): 'sft' | 'rl' {
  const rl = resolveStageDir(runDir, 'rl');
  return fs.existsSync(path.join(rl, 'last.json')) ? 'rl' : 'sft';
}

/** A UserError unless `runDir` is an existing folder (`flag` names the option in the message). */
export function requireRunDir(runDir: string, flag = '--run'): void {
  if (!fs.existsSync(runDir) || !fs.statSync(runDir).isDirectory()) {
    throw new UserError(`${flag}: run folder ${runDir} does not exist. Run folders are made by "adagrpo train" under runsDir (default runs/).`);
  }
}

/**
 * A UserError unless the process may write into `dir` (a read-only mount, or a folder without
 * write permission), checked before a long computation whose result could not be saved.
 */
export function requireWritable(dir: string, why: string): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new UserError(
      `${dir} is read-only (${(e as NodeJS.ErrnoException).code}); ${why}. Make it writable, or copy the run folder somewhere writable and pass that.`,
    );
  }
}
