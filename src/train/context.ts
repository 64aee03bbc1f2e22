/**
 * What every training stage receives. The pipeline (src/train/pipeline.ts) builds it once per
 * `adagrpo train`; stages read from it top to bottom and never reach for globals.
 */
import type { Config } from '../config/schema.js';
import type { Progress } from '../progress.js';
import type { PreparedInputs } from '../data/inputs.js';
import type { Rng } from '../rng.js';
import type { MetricsRowInput } from '../runs/metrics.js';


/** Where a stage writes metrics rows (metrics.jsonl of the run). */
export type MetricsSink = (row: MetricsRowInput) => void;

export interface StageContext {
  config: Config;
  inputs: PreparedInputs;
  /** The stage's own folder: checkpoints/, best.json, final.json, last.json live here. */
  stageDir: string;
  /** This stage's random stream (forked from the run seed by stage name). */
  rng: Rng;
  metrics: MetricsSink;
  /** Drop this stage's metrics rows after `step` (-1: all of them): a resumed stage logs them again. */
  rewindMetrics: (step: number) => void;
  progress: (label: string, total: number) => Progress;
  log: (line: string) => void;
  /** Aborted on Ctrl-C: the stage saves a checkpoint at the end of the current step, then throws InterruptedError. */
  signal: AbortSignal;
  /** Continue from the stage's last checkpoint if there is one. */
  resume: boolean;
  /** Folders of the stages that ran before this one (RL reads the SFT policy and the ranker). */
  upstream: Partial<Record<'sft' | 'ranker', string>>;
}
