/**
 * What every training stage receives. The pipeline (src/train/pipeline.ts) builds it once per
 * `adagrpo train`; stages read from it top to bottom and never reach for globals.
 */
import type { Config } from '../config/schema.js';
import type { Progress } from '../cli/progress.js';
import type { Dataset, Splits, DataManifest } from '../data/types.js';
import type { SemanticIds } from '../data/sid/types.js';
import type { Rng } from '../rng.js';

export interface PreparedInputs {
  dataset: Dataset;
  splits: Splits;
  manifest: DataManifest;
  /** Processed-data cache folder of this dataset. */
  dataDir: string;
  sids: SemanticIds;
  /** Hash identifying the SIDs (data hash + sid config). */
  sidHash: string;
}

/** Where a stage writes metrics rows (metrics.jsonl of the run). */
export type MetricsSink = (row: Record<string, unknown>) => void;

export interface StageContext {
  config: Config;
  inputs: PreparedInputs;
  /** The stage's own folder: checkpoints/, best.json, final.json, last.json live here. */
  stageDir: string;
  /** This stage's random stream (forked from the run seed by stage name). */
  rng: Rng;
  metrics: MetricsSink;
  progress: (label: string, total: number) => Progress;
  log: (line: string) => void;
  /** Aborted on Ctrl-C: the stage saves a checkpoint at the end of the current step, then throws InterruptedError. */
  signal: AbortSignal;
  /** Continue from the stage's last checkpoint if there is one. */
  resume: boolean;
  /** Folders of the stages that ran before this one (RL reads the SFT policy and the ranker). */
  upstream: Partial<Record<'sft' | 'ranker', string>>;
}

/**
 * Thrown after the user pressed Ctrl-C: by a stage once it saved a checkpoint (`step` = the saved
 * step), or by a sweep between runs (`step` = runs finished, nothing to save). `advice` says how to
 * continue: train's --resume by default; a sweep continues by running the same command again.
 */
export class InterruptedError extends Error {
  constructor(
    readonly stage: string,
    readonly step: number,
    readonly advice = 'Continue with --resume.',
  ) {
    super(
      stage === 'sweep'
        ? `sweep interrupted after ${step} run${step === 1 ? '' : 's'}; finished runs are kept. ${advice}`
        : `interrupted during ${stage} at step ${step}; a checkpoint was saved. ${advice}`,
    );
    this.name = 'InterruptedError';
  }
}

/** Thrown when a loss becomes NaN or Inf: names the step; the last good checkpoint is kept. */
export class NonFiniteLossError extends Error {
  constructor(readonly stage: string, readonly step: number, readonly what: string) {
    super(`${stage}: ${what} is not finite at step ${step}; stopped. The last good checkpoint is kept; lower the learning rate or check the data.`);
    this.name = 'NonFiniteLossError';
  }
}
