/**
 * metrics.jsonl (docs/METHOD.md 4): one JSON row per logged step or evaluation, appended, never
 * rewritten in place. This module is the only writer and reader. Every row has `stage`, `kind`,
 * `step` and `time`; the rest are numbers (a NaN is written as null by JSON).
 *
 * Kinds, by stage:
 * - `train` (sft, ranker, rl, sasrec): training diagnostics of the interval or step that ends at `step`;
 *   for rl one row per step with every gate diagnostic (docs/METHOD.md 2.5);
 * - `valid` (sft, rl, sasrec): validation metrics of the model at `step`;
 * - `eval` (ranker): AUC and GAUC on the held-out exposure-biased log (`split: 'valid-log'`);
 * - `rankerEval` (ranker): the unbiased evaluation of the best ranker, by group;
 * - `test` (sft, rl, sasrec): test metrics of the `best` or `final` checkpoint after training.
 *
 * A crash can only tear the last line (appends are whole lines otherwise): readers skip such a
 * line with a warning, and a resumed stage cuts the file back to the checkpoint it resumes from,
 * so a resumed run's rows equal an uninterrupted run's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { appendLine, atomicWrite } from '../io/atomic.js';
import { describeIssues } from '../io/json.js';
import { mean } from '../stats.js';

export const STAGE_NAMES = ['sft', 'ranker', 'rl', 'sasrec'] as const;
export type StageId = (typeof STAGE_NAMES)[number];

/** Metric values: numbers, or null where a NaN or Inf was logged (JSON has neither). */
const value = z.number().nullable();
const common = { stage: z.enum(STAGE_NAMES), time: z.string(), step: z.number().int().nonnegative() };

const rowSchema = z.discriminatedUnion('kind', [
  z.object({ ...common, kind: z.literal('train') }).catchall(value),
  z.object({ ...common, kind: z.literal('valid') }).catchall(value),
  z.object({ ...common, kind: z.literal('eval'), split: z.string() }).catchall(value),
  z.object({ ...common, kind: z.literal('rankerEval') }).catchall(value),
  z.object({ ...common, kind: z.literal('test'), checkpoint: z.string() }).catchall(value),
]);
export type MetricsRow = z.infer<typeof rowSchema>;
export type MetricsKind = MetricsRow['kind'];

/** What a stage logs: a row without the `stage` and `time` the run adds. */
export type MetricsRowInput =
  | { kind: 'train' | 'valid' | 'rankerEval'; step: number; [metric: string]: number | string }
  | { kind: 'eval'; split: string; step: number; [metric: string]: number | string }
  | { kind: 'test'; checkpoint: string; step: number; [metric: string]: number | string };

export function metricsFile(runDir: string): string {
  return path.join(runDir, 'metrics.jsonl');
}

/** Append one row (validated: a row the reader would refuse is a bug of the writer). */
export function appendMetricsRow(runDir: string, stage: StageId, row: MetricsRowInput): void {
  const full = { stage, time: new Date().toISOString(), ...row };
  const r = rowSchema.safeParse(JSON.parse(JSON.stringify(full)));
  if (!r.success) throw new Error(`metrics row of ${stage} does not fit the metrics.jsonl format: ${describeIssues(r.error)}`);
  appendLine(metricsFile(runDir), JSON.stringify(full));
}

export interface ReadMetricsOptions {
  stage?: StageId;
  kind?: MetricsKind;
  /** Where the torn-last-line warning goes; default stderr. */
  warn?: (line: string) => void;
}

/**
 * The rows of a run (none when it has logged nothing), optionally of one stage and kind. A torn
 * last line (a crash mid-append) is skipped with a warning; damage anywhere else is a UserError
 * naming file:line.
 */
export function readMetrics(runDir: string, o: ReadMetricsOptions = {}): MetricsRow[] {
  const file = metricsFile(runDir);
  if (!fs.existsSync(file)) return [];
  const { rows, tornTail } = parseMetrics(file, fs.readFileSync(file, 'utf8'));
  if (tornTail) (o.warn ?? ((l) => process.stderr.write(l + '\n')))(`warning: ${file}:${tornTail}: incomplete last line (a crash while writing it); skipped`);
  return rows.filter((r) => (o.stage === undefined || r.stage === o.stage) && (o.kind === undefined || r.kind === o.kind));
}

/** Rows of a metrics.jsonl text, and the 1-based line number of a torn last line (0 if none). */
export function parseMetrics(file: string, text: string): { rows: MetricsRow[]; tornTail: number } {
  const lines = text.split('\n');
  // A complete file ends with '\n', so its last element is ''. Anything else there is torn.
  const last = lines.pop() ?? '';
  const rows: MetricsRow[] = [];
  const bad = (i: number, why: string) =>
    new UserError(`${file}:${i + 1}: ${why}. metrics.jsonl is written only by adagrpo; restore the file, or delete the run folder and train again.`);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw bad(i, 'not a JSON row');
    }
    const r = rowSchema.safeParse(raw);
    if (!r.success) throw bad(i, `not a metrics row (${describeIssues(r.error)})`);
    rows.push(r.data);
  });
  return { rows, tornTail: last.trim() === '' ? 0 : lines.length + 1 };
}

/**
 * Cut a run's metrics.jsonl back to what the checkpoint a stage resumes from had seen: drop the
 * torn tail and every row of `stage` logged after `step` (-1: every row of it; rows of other
 * stages are kept, they come before this stage's rows). Without a stage only the torn tail goes.
 * Returns the number of rows dropped.
 */
export function truncateMetrics(runDir: string, stage?: StageId, step = -1): number {
  const file = metricsFile(runDir);
  if (!fs.existsSync(file)) return 0;
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  lines.pop();
  const keep: string[] = [];
  let dropped = 0;
  const { rows } = parseMetrics(file, text);
  let k = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const row = rows[k++];
    // Test rows are written after training ends, so a resumed stage makes them again.
    if (row.stage === stage && (row.step > step || row.kind === 'test')) dropped++;
    else keep.push(line);
  }
  if (dropped === 0 && text.endsWith('\n')) return 0;
  atomicWrite(file, keep.map((l) => l + '\n').join(''));
  return dropped;
}

/**
 * The mean of `field` over a run's RL steps, each step counted once (its last row). The one
 * definition of a run's admission rate: the matched controls (rl.randomGate.matchRun,
 * rl.lambdaMatchRun) and `report` all read it here. NaN when the run has no RL steps.
 */
export function meanOverRlSteps(rows: readonly MetricsRow[], value: string | ((row: MetricsRow) => number)): number {
  const get = typeof value === 'function' ? value : (r: MetricsRow) => (typeof r[value] === 'number' ? (r[value] as number) : Number.NaN);
  const byStep = new Map<number, MetricsRow>();
  for (const r of rows) if (r.stage === 'rl' && r.kind === 'train') byStep.set(r.step, r);
  return mean([...byStep.values()].map(get));
}
