/**
 * `sweep --slurm`: a sweep as a Slurm job array, one array task per shard, each running
 * `adagrpo sweep <the same arguments> --shard $SLURM_ARRAY_TASK_ID/N`. Slurm schedules; the
 * shards coordinate only through the shared runs folder (locks on run folders and stage caches).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { atomicWrite } from '../io/atomic.js';

export interface SlurmOptions {
  /** Array size: one task per shard. */
  shards: number;
  jobName: string;
  /** Where the script and the tasks' logs go (`<sweepDir>/slurm`). */
  dir: string;
  /** Folder the tasks start in (relative config paths and runsDir resolve from it). */
  cwd: string;
  /** The adagrpo command: node and the bin script, as absolute paths. */
  command: string[];
  /** `sweep` arguments without --shard/--slurm flags. */
  sweepArgs: string[];
  partition?: string;
  time?: string;
  gpusPerTask?: number;
  cpusPerTask?: number;
}

/** POSIX single-quoting: safe for any argument. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./=:,+@%-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function sbatchScript(o: SlurmOptions): string {
  const directives = [
    `--job-name=${o.jobName}`,
    `--array=1-${o.shards}`,
    '--ntasks=1',
    `--output=${path.resolve(o.dir, '%A_%a.out')}`,
    ...(o.partition ? [`--partition=${o.partition}`] : []),
    ...(o.time ? [`--time=${o.time}`] : []),
    ...(o.gpusPerTask !== undefined ? [`--gpus-per-task=${o.gpusPerTask}`] : []),
    ...(o.cpusPerTask !== undefined ? [`--cpus-per-task=${o.cpusPerTask}`] : []),
  ];
  return [
    '#!/bin/bash',
    `# adagrpo sweep as a job array: task K of ${o.shards} runs shard K/${o.shards}. Written by adagrpo sweep --slurm;`,
    '# the runs folder and the processed-data folder must be on a file system every node shares.',
    ...directives.map((d) => `#SBATCH ${d}`),
    'set -euo pipefail',
    `cd ${shellQuote(o.cwd)}`,
    `exec ${[...o.command, ...o.sweepArgs].map(shellQuote).join(' ')} --shard "$SLURM_ARRAY_TASK_ID/${o.shards}"`,
    '',
  ].join('\n');
}

/** Write the script to `<dir>/sweep.sbatch` (and create the log folder Slurm writes into). */
export function writeSbatchScript(o: SlurmOptions): string {
  fs.mkdirSync(o.dir, { recursive: true });
  const file = path.join(o.dir, 'sweep.sbatch');
  atomicWrite(file, sbatchScript(o));
  fs.chmodSync(file, 0o755);
  return file;
}

/** Submit with sbatch; returns the job id. */
export function submit(script: string): string {
  let out: string;
  try {
    out = execFileSync('sbatch', ['--parsable', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new UserError(`--submit: sbatch is not on PATH; run this on a Slurm login node, or submit ${script} yourself`);
    throw new UserError(`sbatch ${script} failed: ${(err.stderr ?? err.message).trim()}`);
  }
  // --parsable prints "<job id>" or "<job id>;<cluster>".
  return out.trim().split(';')[0];
}
