/**
 * One training run from an opened run folder: the pipeline (data, semantic IDs, sft, ranker, rl),
 * then test metrics at the best and final checkpoints. `train` and `sweep` both call this.
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { evaluateCheckpoint, pointerStep, reuseReport, type CheckpointEvalReport } from '../eval/checkpointEval.js';
import { sampledUsers } from '../eval/evaluate.js';
import { InterruptedError, UserError } from '../errors.js';
import { LockWaitInterrupted, type Lock } from '../io/lock.js';
import { lockRunFolder, Run, runDirFor, savedConfigDiff } from '../runs/run.js';
import { explainWasmAbort } from './memory.js';
import { runPipeline, type PipelineOptions } from './pipeline.js';
import { trainRanker } from './ranker.js';
import { trainRl } from './rl.js';
import { trainSft } from './sft.js';

/** The stage implementations the pipeline runs. */
export function stageRunners(): PipelineOptions['stages'] {
  return {
    sft: async (ctx) => ({ ...(await trainSft(ctx)) }),
    ranker: async (ctx) => ({ ...(await trainRanker(ctx)) }),
    rl: async (ctx) => ({ ...(await trainRl(ctx)) }),
  };
}

/**
 * Open the run folder of `config`: a new one, or (resume) the existing one after checking that
 * its saved config is this config (COMPUTE_ONLY_KEYS may differ: the backend, micro-batch sizes).
 * Shared by train and sweep.
 */
export function openRun(config: Config, resume: boolean, argv: string[]): Run {
  const runDir = runDirFor(config);
  if (!resume) return Run.create(config, argv);
  const differ = savedConfigDiff(runDir, config);
  if (differ.length > 0) {
    throw new UserError(
      `--resume: the config differs from ${path.join(runDir, 'config.yaml')} at ${differ.join(', ')}. ` +
        `A resumed run must use its own config; drop those overrides or start a new run.`,
    );
  }
  return Run.resume(runDir, argv, config);
}

/** openRun under the run folder's lock (see lockRunFolder); the caller releases the lock when done. */
export async function openLockedRun(config: Config, resume: boolean, purpose: string, log: (line: string) => void): Promise<{ run: Run; lock: Lock }> {
  const lock = await lockRunFolder(config, purpose, log);
  try {
    return { run: openRun(config, resume, process.argv), lock };
  } catch (e) {
    lock.release();
    throw e;
  }
}

export interface TrainRunResult extends Awaited<ReturnType<typeof runPipeline>> {
  /** Test metrics at the best and final checkpoints (empty when --until stops before sft). */
  reports: CheckpointEvalReport[];
}

/**
 * The body of `train` for an opened run, shared with `sweep`: the pipeline, then test metrics at
 * the best and final checkpoints, then the run's end in meta.json (completed, interrupted on
 * Ctrl-C, failed otherwise; errors are rethrown for the caller to report).
 */
export async function trainRun(run: Run, backendName: string, opts: Omit<PipelineOptions, 'run' | 'stages'>): Promise<TrainRunResult> {
  const config = run.config;
  try {
    const { inputs, outcomes } = await runPipeline({ ...opts, run, stages: stageRunners() });
    opts.log(`stages: ${outcomes.map((o) => `${o.stage} ${o.reused ? 'reused' : `${o.seconds.toFixed(1)} s`}`).join(', ')}`);
    const reports: CheckpointEvalReport[] = [];
    if (opts.until === 'sft' || opts.until === 'ranker' || opts.until === 'rl') {
      // The paper reports test metrics at the best (validation HR@10) and the final checkpoint.
      const stage = opts.until === 'rl' ? 'rl' : 'sft';
      for (const checkpoint of ['best', 'final'] as const) {
        const same = checkpoint === 'final' && reports[0] && pointerStep(run.dir, stage, 'final') === reports[0].step;
        let r: CheckpointEvalReport;
        if (same) r = reuseReport(reports[0], 'final');
        else {
          // Beam search over the test users: minutes on a large split, so it shows its progress.
          const bar = opts.progress(`test ${stage}/${checkpoint}`, sampledUsers(inputs, 'test', config.eval.testMaxUsers, config.eval.userSample).users, 'users');
          try {
            r = await evaluateCheckpoint(run.dir, config, inputs, { stage, checkpoint, split: 'test', backendName, maxUsers: config.eval.testMaxUsers, progress: bar, log: opts.log });
          } catch (e) {
            throw explainWasmAbort(e, 'eval');
          } finally {
            bar.stop();
          }
        }
        if (r.reusedFrom && !same) opts.log(`test ${stage}/${checkpoint} (step ${r.step}): the same weights as ${r.reusedFrom} evaluated; its report reused`);
        run.logMetrics(stage, { kind: 'test', checkpoint, step: r.step, ...r.metrics });
        reports.push(r);
      }
    }
    run.finish('completed');
    return { inputs, outcomes, reports };
  } catch (e) {
    endFailedRun(run, e, opts.log);
    throw e;
  }
}

/**
 * After a run's command failed with `e`: a new run that logged and saved nothing is removed (so
 * the same command works once the cause is fixed); any other is marked interrupted or failed in
 * meta.json. Shared by train, sweep and baseline.
 */
export function endFailedRun(run: Run, e: unknown, log: (line: string) => void): void {
  const interrupted = e instanceof InterruptedError || e instanceof LockWaitInterrupted;
  if (!interrupted && run.discardIfEmpty()) {
    log(`removed ${run.dir}: the run failed before it logged or saved anything; fix the problem and run the same command again`);
    return;
  }
  try {
    run.finish(interrupted ? 'interrupted' : 'failed', e);
  } catch (f) {
    // A full disk can refuse meta.json too; the first error is the one the user must see.
    log(`could not record the run's end in meta.json: ${(f as Error).message}`);
  }
}
