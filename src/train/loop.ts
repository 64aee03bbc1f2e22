/**
 * The one training loop that the sft, ranker and rl stages plug into (docs/METHOD.md 4). A stage
 * brings its models, its batch, its loss and its diagnostics (`StageSpec`); the loop owns what must
 * mean the same in every stage:
 * - resume: weights, optimizer moments, random stream, best so far and the stage's own records
 *   come back from the last checkpoint, and metrics.jsonl is cut back to that step, so a resumed
 *   stage logs exactly the rows of an uninterrupted one;
 * - the learning-rate schedule (linear warmup, cosine decay);
 * - a `train` metrics row every `logEvery` steps and at the last step;
 * - validation every `eval.every` steps and at the last step; the `best` pointer names the
 *   checkpoint with the highest validation metric (a checkpoint is saved when it improves);
 * - checkpoints every `checkpointEvery` steps, at the last step and on Ctrl-C or SIGTERM; the two
 *   newest and those a pointer names are kept;
 * - a non-finite loss or gradient norm stops the stage before anything of that step is saved;
 * - the progress display is stopped whatever happens.
 */
import type { Config } from '../config/schema.js';
import { InterruptedError, NonFiniteLossError } from '../errors.js';
import { CHECKPOINT_FORMAT, pruneCheckpoints, readPointer, saveCheckpoint, setPointer, type CheckpointState } from '../model/checkpoint.js';
import type { ProgressFields } from '../progress.js';
import { Rng } from '../rng.js';
import { mean } from '../stats.js';
import type * as tf from '@tensorflow/tfjs';
import type { StageContext } from './context.js';
import { learningRate, restoreLast, type AdamW } from './optimizer.js';

/** What one optimizer step reports: `loss` and `gradNorm`, plus the stage's own diagnostics. */
export interface StepReport {
  loss: number;
  gradNorm: number;
  [diagnostic: string]: number;
}

export interface StageSpec {
  stage: 'sft' | 'ranker' | 'rl' | 'sasrec';
  ctx: StageContext;
  /** Hash of everything the stage depends on: a checkpoint of another hash is never resumed. */
  configHash: string;
  /** Total optimizer steps. */
  steps: number;
  /** The stage's config section: learning-rate schedule and checkpoint cadence. */
  schedule: { lr: number; warmupSteps: number; minLrRatio: number; checkpointEvery: number };
  /** The random stream of the steps (default ctx.rng); a resumed stage continues the saved one. */
  rng?: Rng;
  /** Trainable weights and their optimizer: checkpointed and restored together. */
  params: Map<string, tf.Variable>;
  optimizer: AdamW;
  /** A `train` metrics row every this many steps (and at the last step). */
  logEvery: number;
  /** Stage records saved in every checkpoint's state.json (`extra`). */
  extra?: () => Record<string, unknown>;
  /** Called with the checkpoint's state when the stage resumes (to restore what `extra` saved). */
  onResume?: (state: CheckpointState) => void;
  /**
   * One optimizer step at learning rate `lr`, drawing randomness from `rng`. When the loss or the
   * gradient norm is not finite it must leave the weights as they were (AdamW skips such a step).
   */
  step: (step: number, lr: number, rng: Rng) => StepReport | Promise<StepReport>;
  /** The `train` row of the steps since the last one (`seconds`: their wall time, validation excluded). */
  summarize: (reports: readonly StepReport[], seconds: number) => Record<string, number>;
  /** Fields shown beside the progress bar, from a summary. */
  progressFields: (summary: Record<string, number>) => ProgressFields;
  /** Validation at `step` (the stage logs its own rows): the model-selection metric, higher is better. */
  validate: (step: number) => number | Promise<number>;
  /** Name of the validation metric in log lines ("valid HR@10"). */
  metricName: string;
  /** Validate and checkpoint the initial weights as step 0 (RL: the SFT policy is the baseline to beat). */
  validateInitial?: boolean;
}

export interface LoopResult {
  bestStep: number;
  bestMetric: number;
  finalStep: number;
  /** The step the stage resumed from (null: it started fresh). */
  resumedFrom: number | null;
}

/** Keep the newest checkpoints and those a pointer names: enough to resume and to evaluate. */
const KEEP_CHECKPOINTS = 2;

/** Run a stage's steps from wherever its checkpoints say it stands, to `spec.steps`. */
export async function runStageLoop(spec: StageSpec): Promise<LoopResult> {
  const { ctx, stage } = spec;
  const total = spec.steps;
  const evalEvery = ctx.config.eval.every;
  let rng = spec.rng ?? ctx.rng;
  let step = 0;
  let best = { step: -1, metric: Number.NEGATIVE_INFINITY };
  let lastSaved: number | null = null;
  // Step reports since the last train row: checkpointed, so a resumed interval averages the same steps.
  let interval: StepReport[] = [];

  const resumed = restoreLast(ctx.stageDir, stage, spec.configHash, ctx.resume, spec.params, spec.optimizer);
  if (resumed) {
    step = resumed.step;
    lastSaved = step;
    rng = Rng.restore(resumed.rng);
    best = { step: resumed.bestStep ?? -1, metric: resumed.bestMetric ?? Number.NEGATIVE_INFINITY };
    interval = (resumed.pendingReports ?? []).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v ?? Number.NaN])) as StepReport);
    spec.onResume?.(resumed);
    ctx.log(`${stage}: resumed at step ${step}${best.step >= 0 ? ` (best ${spec.metricName} ${best.metric.toFixed(4)} at step ${best.step})` : ''}`);
  }
  // Rows this stage logged after the checkpoint it continues from would otherwise appear twice.
  if (ctx.resume) ctx.rewindMetrics(resumed ? step : -1);

  const save = async (atStep: number) => {
    if (lastSaved === atStep) return;
    await saveCheckpoint(ctx.stageDir, new Map<string, tf.Tensor>([...spec.params, ...spec.optimizer.stateTensors()]), {
      formatVersion: CHECKPOINT_FORMAT,
      stage,
      step: atStep,
      rng: rng.state(), // the live stream: after a resume it is not ctx.rng
      configHash: spec.configHash,
      bestMetric: best.step >= 0 ? best.metric : null,
      bestStep: best.step >= 0 ? best.step : null,
      optimizerStep: spec.optimizer.t,
      extra: spec.extra?.(),
      pendingReports: interval.length > 0 ? interval.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number.isFinite(v) ? v : null]))) : undefined,
    });
    lastSaved = atStep;
    pruneCheckpoints(ctx.stageDir, KEEP_CHECKPOINTS);
  };
  const validate = async (atStep: number): Promise<number> => {
    const metric = await spec.validate(atStep);
    // The first validation always names a best, so `best` exists even if the metric is NaN.
    if (best.step < 0 || metric > best.metric) {
      best = { step: atStep, metric };
      await save(atStep);
      setPointer(ctx.stageDir, 'best', atStep, metric);
    }
    return metric;
  };

  if (step >= total && readPointer(ctx.stageDir, 'final')) return { bestStep: best.step, bestMetric: best.metric, finalStep: step, resumedFrom: resumed ? step : null };

  const bar = ctx.progress(stage === 'rl' ? `rl ${ctx.config.rl.algorithm}` : stage, total);
  try {
    // A stage resumed at step 0 validated (and logged) its initial weights before it stopped.
    if (!resumed && step === 0 && (total === 0 || spec.validateInitial)) {
      const metric = await validate(0);
      await save(0);
      bar.log(`${stage} step 0: ${spec.metricName} ${metric.toFixed(4)}`);
    }
    bar.update(step);
    let intervalStart = performance.now();
    while (step < total) {
      const lr = learningRate(step, spec.schedule, total);
      const report = await spec.step(step, lr, rng);
      if (!Number.isFinite(report.loss)) throw new NonFiniteLossError(stage, step + 1, 'the loss', lastSaved);
      // Overflowing gradients can pass with a finite loss; AdamW skipped that update.
      if (!Number.isFinite(report.gradNorm)) throw new NonFiniteLossError(stage, step + 1, 'the gradient norm', lastSaved);
      step++;
      interval.push(report);

      if (step % spec.logEvery === 0 || step === total) {
        const summary = spec.summarize(interval, (performance.now() - intervalStart) / 1000);
        ctx.metrics({ kind: 'train', step, lr, ...summary });
        bar.update(step, spec.progressFields(summary));
        interval = [];
        intervalStart = performance.now();
      } else {
        bar.update(step);
      }

      if (step % evalEvery === 0 || step === total) {
        const metric = await validate(step);
        bar.log(`${stage} step ${step}: ${spec.metricName} ${metric.toFixed(4)} (best ${best.metric.toFixed(4)} at step ${best.step})`);
        // Validation time is not training throughput.
        intervalStart = performance.now();
      }
      // A step is synchronous tfjs work: give the event loop a turn so SIGINT/SIGTERM are seen.
      await new Promise((resolve) => setImmediate(resolve));
      const stopping = ctx.signal.aborted && step < total;
      if (step % spec.schedule.checkpointEvery === 0 || step === total || stopping) await save(step);
      if (stopping) throw new InterruptedError(stage, step, undefined, ctx.signal.reason);
    }
    await save(step);
    setPointer(ctx.stageDir, 'final', step);
  } finally {
    bar.stop();
  }
  return { bestStep: best.step, bestMetric: best.metric, finalStep: step, resumedFrom: resumed ? (resumed.step as number) : null };
}

/** Mean of each diagnostic over an interval's step reports. */
export function meanReports(reports: readonly StepReport[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(reports[0] ?? {})) out[key] = mean(reports.map((r) => r[key]));
  return out;
}

/** The model-selection metric of policy stages: validation HR@10 (HR@ the largest K ≤ beam when 10 is not among eval.ks). */
export function selectionK(config: Config): number {
  return config.eval.ks.includes(10) ? 10 : Math.max(...config.eval.ks.filter((k) => k <= config.eval.beam));
}
