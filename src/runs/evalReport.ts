/**
 * The test or validation report of one policy checkpoint: `<run>/eval/<name>.json` (docs/METHOD.md
 * 2.6), written by `train` after training and by `adagrpo eval`, read by `report`. This module is
 * its only reader and writer. Its `.top10.jsonl` sibling (per user: target and top-10 items) is
 * written beside it and read by people, not by adagrpo.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../io/json.js';

/** Metric values: numbers, or null for a NaN (JSON has none). */
const metrics = z.record(z.string(), z.number().nullable());

const evalReportSchema = z.object({
  run: z.string(),
  stage: z.enum(['sft', 'rl', 'sasrec']),
  checkpoint: z.string(),
  step: z.number().int().nonnegative(),
  split: z.enum(['valid', 'test']),
  users: z.number().int().nonnegative(),
  /**
   * How `users` were chosen from the split when not all of them were (config eval.userSample).
   * Absent: every user, or, in reports written before the setting existed, the first `users`.
   */
  userSample: z.enum(['spread', 'first']).optional(),
  beam: z.number().int().positive(),
  constrained: z.boolean(),
  ks: z.array(z.number().int().positive()),
  backend: z.string(),
  seconds: z.number(),
  usersPerSec: z.number().nullable(),
  metrics,
  popular: metrics,
  createdAt: z.string(),
  /** Where the report was written. */
  file: z.string(),
  /**
   * The run whose evaluation of identical weights with the same settings this report copies
   * (src/eval/evalCache.ts); seconds and usersPerSec are that evaluation's. Absent when computed here.
   */
  reusedFrom: z.string().optional(),
});
export type EvalReport = Omit<z.infer<typeof evalReportSchema>, 'metrics' | 'popular'> & {
  metrics: Record<string, number>;
  popular: Record<string, number>;
};

/** Which users of a split an evaluation decoded: how many, and how they were chosen. */
export type EvalUsers = Pick<EvalReport, 'users' | 'userSample'>;

/** Whether two evaluations of one split of the same data decoded the same users. */
export function sameUsers(a: EvalUsers, b: EvalUsers): boolean {
  // A report without userSample decoded every user or, written before the setting, the first N.
  return a.users === b.users && (a.userSample ?? 'first') === (b.userSample ?? 'first');
}

/** The users in words, for messages: "2000 test users", "the first 2000 test users", "2000 test users spread over the split". */
export function usersText(u: EvalUsers, split: string): string {
  if (u.userSample === undefined) return `${u.users} ${split} users`;
  return u.userSample === 'first' ? `the first ${u.users} ${split} users` : `${u.users} ${split} users spread over the split`;
}

/**
 * `<run>/eval/<stage>-<checkpoint>-<split>.json`: the report of a run's own evaluation with its
 * config's settings (train's and baseline's test reports; see evalFileBase for other settings).
 */
export function evalReportFile(runDir: string, stage: EvalReport['stage'], checkpoint: string, split: EvalReport['split']): string {
  return path.join(runDir, 'eval', `${stage}-${checkpoint}-${split}.json`);
}

/**
 * A run folder of `adagrpo baseline --model sasrec` (docs/METHOD.md 2.9): its checkpoints live in
 * `sasrec/`, a folder no policy run has, made when the run starts.
 */
export function isSasrecRun(runDir: string): boolean {
  return fs.existsSync(path.join(runDir, 'sasrec'));
}

export function writeEvalReport(report: EvalReport): void {
  writeJsonFile(report.file, evalReportSchema, report);
}

/** A report as written; metrics logged as null (NaN) come back as NaN. */
export function readEvalReport(file: string): EvalReport {
  const r = readJsonFile(file, evalReportSchema, {
    what: 'evaluation report',
    fix: 'It is written by "adagrpo train" and "adagrpo eval"; delete it and run "adagrpo eval" on the run again.',
  });
  const nan = (m: Record<string, number | null>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v ?? Number.NaN]));
  return { ...r, metrics: nan(r.metrics), popular: nan(r.popular) };
}
