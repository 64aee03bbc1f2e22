/**
 * Evaluate one checkpoint of a run's policy stage and write the report: the one routine behind
 * `adagrpo eval` and the test metrics `train` prints at the end (best and final checkpoints).
 * Files: `<run>/eval/<stage>-<checkpoint>-<split>.json` (metrics, the popular baseline, beam,
 * backend, timing) and `.top10.jsonl` (per user: target and top-10 item ids, null = invalid).
 * A checkpoint whose weights were already evaluated with the same settings reuses that report
 * (src/eval/evalCache.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { atomicWrite } from '../io/atomic.js';
import { readCheckpointState, readPointer, resolveCheckpoint } from '../model/checkpoint.js';
import { writeEvalReport, type EvalReport } from '../runs/evalReport.js';
import type { Progress } from '../progress.js';
import { evaluatePolicy, sampledUsers, type UserSample } from './evaluate.js';
import { evaluatePopularFor } from './popular.js';
import type { PreparedInputs } from '../data/inputs.js';
import { resolveStageDir } from '../runs/stages.js';
import { loadPolicy } from '../model/load.js';
import { runningBackend } from '../backend.js';
import { backendKey, evalCacheDir, evalCacheKey, readCachedEval, writeCachedEval } from './evalCache.js';

export interface CheckpointEvalOptions {
  stage: 'sft' | 'rl';
  /** best | final | last | step_N */
  checkpoint: string;
  split: 'valid' | 'test';
  beam?: number;
  constrained?: boolean;
  /** 0 = all users of the split. */
  maxUsers?: number;
  /** How a capped evaluation chooses its users. Default config.eval.userSample. */
  userSample?: UserSample;
  backendName: string;
  progress?: Progress;
  /** Where warnings go (a failed write of the reuse cache). */
  log?: (line: string) => void;
}

export type CheckpointEvalReport = EvalReport;

export async function evaluateCheckpoint(runDir: string, config: Config, inputs: PreparedInputs, o: CheckpointEvalOptions): Promise<CheckpointEvalReport> {
  const stageDir = resolveStageDir(runDir, o.stage);
  const ckDir = resolveCheckpoint(stageDir, o.checkpoint); // UserError listing what exists
  const state = readCheckpointState(ckDir);
  const beam = o.beam ?? config.eval.beam;
  const maxUsers = o.maxUsers ?? 0;
  const constrained = o.constrained ?? config.eval.constrained;
  const evalDir = path.join(runDir, 'eval');
  const cacheDir = evalCacheDir(runDir);
  const running = runningBackend();
  const { userSample } = sampledUsers(inputs, o.split, maxUsers, o.userSample ?? config.eval.userSample);
  const key = evalCacheKey(ckDir, config, inputs, { split: o.split, beam, constrained, maxUsers, userSample }, running ? backendKey(running) : { name: o.backendName });
  const cached = readCachedEval(cacheDir, key);
  if (cached) {
    // Identical weights and settings (an RL run whose best is its SFT start): the same numbers.
    const base = evalFileBase(config, { ...o, beam, constrained: cached.report.constrained, maxUsers, userSample });
    const origin = cached.report.reusedFrom ?? cached.report.run;
    const report: CheckpointEvalReport = {
      ...cached.report,
      run: runDir,
      stage: o.stage,
      checkpoint: o.checkpoint,
      step: state.step,
      createdAt: new Date().toISOString(),
      file: path.join(evalDir, `${base}.json`),
      reusedFrom: path.resolve(origin) === path.resolve(runDir) ? undefined : origin,
    };
    writeEvalReport(report);
    atomicWrite(path.join(evalDir, `${base}.top10.jsonl`), cached.top10);
    return report;
  }
  // The step folder that was hashed, not the pointer again: `best` may move while the run trains.
  const policy = loadPolicy(stageDir, path.basename(ckDir), config, { codebookSizes: inputs.sids.codebookSizes });
  let result;
  try {
    result = await evaluatePolicy(policy, inputs, config, {
      split: o.split,
      beam,
      constrained,
      maxUsers,
      userSample,
      keepRankings: true,
      progress: o.progress,
    });
  } finally {
    policy.dispose();
  }
  const popular = evaluatePopularFor(inputs, config, o.split, maxUsers, beam, userSample);
  const base = evalFileBase(config, { ...o, beam, constrained: result.constrained, maxUsers, userSample });
  const file = path.join(evalDir, `${base}.json`);
  const report: CheckpointEvalReport = {
    run: runDir,
    stage: o.stage,
    checkpoint: o.checkpoint,
    step: state.step,
    split: o.split,
    users: result.users,
    userSample,
    beam,
    constrained: result.constrained,
    ks: result.ks,
    backend: o.backendName,
    seconds: result.seconds,
    usersPerSec: result.usersPerSec,
    metrics: result.metrics,
    popular: popular.metrics,
    createdAt: new Date().toISOString(),
    file,
  };
  writeEvalReport(report);
  const ids = inputs.dataset.itemIds;
  const lines = result.rankings!.map((r) =>
    JSON.stringify({
      user: inputs.dataset.userIds[r.user],
      target: ids[r.target],
      top10: Array.from(r.items.subarray(0, 10), (i) => (i >= 0 ? ids[i] : null)),
      scores: Array.from(r.scores.subarray(0, 10), (s) => (Number.isFinite(s) ? Number(s.toFixed(5)) : null)),
    }),
  );
  const top10 = lines.join('\n') + '\n';
  atomicWrite(path.join(evalDir, `${base}.top10.jsonl`), top10);
  const failed = writeCachedEval(cacheDir, key, report, top10);
  if (failed) o.log?.(`warning: could not store this evaluation for reuse (${failed}); the report itself is written`);
  return report;
}

/**
 * `<stage>-<checkpoint>-<split>`, then a suffix per setting that differs from train's own test
 * evaluation (eval.beam, eval.constrained, eval.testMaxUsers, eval.userSample): `-beam<W>`,
 * `-constrained` or `-unconstrained`, `-n<N>` or `-all`, `-first` or `-spread` (capped only). So `adagrpo eval` with other settings never overwrites the
 * files train wrote, and the same settings reproduce them.
 */
export function evalFileBase(
  config: Config,
  o: { stage: string; checkpoint: string; split: string; beam: number; constrained: boolean; maxUsers: number; userSample: UserSample | undefined },
): string {
  const parts = [o.stage, o.checkpoint, o.split];
  if (o.beam !== config.eval.beam) parts.push(`beam${o.beam}`);
  if (o.constrained !== config.eval.constrained) parts.push(o.constrained ? 'constrained' : 'unconstrained');
  if (o.maxUsers !== config.eval.testMaxUsers) parts.push(o.maxUsers > 0 ? `n${o.maxUsers}` : 'all');
  // undefined when every user was decoded: then how they would have been chosen does not matter.
  if (o.userSample !== undefined && o.userSample !== config.eval.userSample) parts.push(o.userSample);
  return parts.join('-');
}

/** Step a pointer (`best`, `final`, `last`) of a run's stage names. */
export function pointerStep(runDir: string, stage: 'sft' | 'rl', which: 'best' | 'final' | 'last'): number | null {
  return readPointer(resolveStageDir(runDir, stage), which)?.step ?? null;
}

/**
 * The report of another pointer naming the same step (best = final is common): the files are
 * copied under the new name instead of decoding the whole split again.
 */
export function reuseReport(report: CheckpointEvalReport, checkpoint: string): CheckpointEvalReport {
  const base = `${report.stage}-${checkpoint}-${report.split}`;
  const file = path.join(path.dirname(report.file), `${base}.json`);
  const copy = { ...report, checkpoint, file };
  writeEvalReport(copy);
  const top = report.file.replace(/\.json$/, '.top10.jsonl');
  atomicWrite(path.join(path.dirname(report.file), `${base}.top10.jsonl`), fs.readFileSync(top, 'utf8'));
  return copy;
}
