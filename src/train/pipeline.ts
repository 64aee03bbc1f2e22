/**
 * `adagrpo train`: data → semantic IDs → SFT → ranker → RL, then test metrics at the best and
 * final checkpoints. Upstream stages are keyed by a hash of everything they depend on and live in
 * a shared cache under `<runsDir>/_stages/`, so every run of a sweep that differs only
 * downstream starts from the very same SFT policy and ranker; the run's own `sft/` and `ranker/`
 * folders hold a `stage.json` naming that cache entry.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { COMPUTE_ONLY_KEYS, type Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { hashOf } from '../hash.js';
import { acquireLock } from '../io/lock.js';
import { Rng } from '../rng.js';
import { truncateMetrics } from '../runs/metrics.js';
import type { Run } from '../runs/run.js';
import type { ProgressFactory } from '../progress.js';
import type { StageContext } from './context.js';
import { isStageComplete, writeStageRecord } from '../runs/stages.js';
import { assertTrainedOn, writeUpstream, type Upstream } from '../runs/upstream.js';
import { type PreparedInputs, prepareInputs } from '../data/inputs.js';
import { checkTrainingMemory, explainWasmAbort } from './memory.js';

export const STAGES = ['data', 'sft', 'ranker', 'rl'] as const;
export type StageName = (typeof STAGES)[number];

export interface StageOutcome {
  stage: StageName;
  dir: string;
  hash: string;
  /** True when the stage was complete in the cache and not trained again. */
  reused: boolean;
  seconds: number;
  summary: Record<string, unknown>;
}

/** The config without COMPUTE_ONLY_KEYS: how a step is split into passes does not name a stage. */
function computedConfig(config: Config): Config {
  const copy = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  for (const key of COMPUTE_ONLY_KEYS) {
    const [a, b] = key.split('.');
    if (b === undefined) delete copy[a];
    else delete copy[a][b];
  }
  return copy as unknown as Config;
}

/** The eval settings a trained stage depends on: the test evaluation after training reads the stages but does not shape them. */
export function stageEvalKey(config: Config): Omit<Config['eval'], 'testMaxUsers' | 'userSample'> & { userSample?: Config['eval']['userSample'] } {
  const { testMaxUsers, userSample, ...rest } = config.eval;
  void testMaxUsers;
  // userSample joined the key after stages were cached: at `first` (what they were validated on)
  // or when every validation user is decoded it changes nothing, and is left out so they stay valid.
  return userSample === 'first' || rest.maxUsers === 0 ? rest : { ...rest, userSample };
}

/**
 * `section` without `key` while it holds `value`, its default: keys that joined a stage key after
 * stages were cached are left out at their default (where they change nothing), so those stages
 * stay valid and their checkpoints still resume.
 */
function omitAtDefault<T extends object, K extends keyof T>(section: T, key: K, value: T[K]): Partial<T> {
  if (section[key] !== value) return section;
  const rest: Partial<T> = { ...section };
  delete rest[key];
  return rest;
}

/** What each trainable stage depends on: change any of it and the stage is trained anew. */
export function stageKey(stage: 'sft' | 'ranker' | 'rl', fullConfig: Config, inputs: PreparedInputs): Record<string, unknown> {
  const config = computedConfig(fullConfig);
  const base = { seed: stageSeed(stage, fullConfig), data: inputs.manifest.hash };
  const evalOfStages = stageEvalKey(config);
  if (stage === 'sft') return { ...base, sid: inputs.sidHash, policy: config.policy, sft: omitAtDefault(config.sft, 'labelSmoothing', 0), eval: evalOfStages };
  if (stage === 'ranker') return { ...base, ranker: config.ranker, eval: evalOfStages };
  return { ...base, everything: { ...config, rl: omitAtDefault(config.rl, 'optimizerFromSft', false) } };
}

/** The seed a stage draws from: upstreamSeed (when set) for sft and ranker, the run seed for rl. */
export function stageSeed(stage: 'sft' | 'ranker' | 'rl', config: Config): number {
  return stage !== 'rl' && config.upstreamSeed !== undefined ? config.upstreamSeed : config.seed;
}

export function stageHash(stage: 'sft' | 'ranker' | 'rl', config: Config, inputs: PreparedInputs): string {
  return hashOf(stageKey(stage, config, inputs));
}

export interface StageRunner {
  (ctx: StageContext): Promise<Record<string, unknown>>;
}

export interface PipelineOptions {
  run: Run;
  /** Last stage to run. */
  until: StageName;
  resume: boolean;
  signal: AbortSignal;
  log: (line: string) => void;
  progress: ProgressFactory;
  /** The stage implementations (injected so the pipeline reads as the recipe it is). */
  stages: Partial<Record<'sft' | 'ranker' | 'rl', StageRunner>>;
}

export async function runPipeline(opts: PipelineOptions): Promise<{ inputs: PreparedInputs; outcomes: StageOutcome[] }> {
  const { run, log } = opts;
  const config = run.config;
  const outcomes: StageOutcome[] = [];
  const upstream: StageContext['upstream'] = {};
  const order: ('sft' | 'ranker' | 'rl')[] = ['sft', 'ranker', 'rl'];
  const wanted = order.slice(0, Math.max(0, STAGES.indexOf(opts.until)));
  for (const s of wanted) {
    if (!opts.stages[s]) {
      throw new UserError(`the ${s} stage is not built yet; run with --until ${STAGES[STAGES.indexOf(s) - 1]} for the stages before it.`);
    }
  }

  // 1. Data and semantic IDs (cached under data.processedDir).
  let t0 = Date.now();
  const inputs = await prepareInputs(config, log, opts.progress);
  outcomes.push({ stage: 'data', dir: inputs.dataDir, hash: inputs.manifest.hash, reused: false, seconds: (Date.now() - t0) / 1000, summary: {} });
  // What this run stands on, so that `report` can check exactly that compared runs share it.
  const upstreamHashes: Upstream & { data: string; sid: string } = { data: inputs.manifest.hash, sid: inputs.sidHash };
  // A resumed run continues only on the data it started on: its checkpoints learned from that.
  if (opts.resume) assertTrainedOn(run.dir, upstreamHashes, 'train --resume');
  writeUpstream(run.dir, upstreamHashes);
  // Refuse a pass that cannot fit before hours of upstream training, not when it aborts.
  checkTrainingMemory(config, inputs, wanted, tf.getBackend(), log);

  // 2-4. Trainable stages, each with its own forked random stream.
  for (const stage of wanted) {
    const hash = stageHash(stage, config, inputs);
    const shared = stage !== 'rl';
    const stageDir = shared ? path.join(config.runsDir, '_stages', `${stage}-${hash}`) : path.join(run.dir, stage);
    if (stage !== 'rl') {
      writeStageRecord(run.dir, stage, hash, stageDir);
      upstreamHashes[stage] = hash;
      writeUpstream(run.dir, upstreamHashes);
    }
    t0 = Date.now();
    const reuse = (how: string) => {
      log(`${stage}: reusing the finished stage ${stageDir} (same data, IDs and ${stage} settings${how})`);
      outcomes.push({ stage, dir: stageDir, hash, reused: true, seconds: 0, summary: {} });
      if (stage !== 'rl') upstream[stage] = stageDir;
    };
    if (isStageComplete(stageDir)) {
      reuse('');
      continue;
    }
    // A shared stage is trained by one process (sweep shards, array tasks, two train commands);
    // the others wait for it here, then reuse it. The run's own RL stage is under the run's lock.
    const lock = shared
      ? await acquireLock(stageDir, { what: `the ${stage} stage ${stageDir}`, purpose: `training ${stage} for ${run.dir}`, wait: true, log, signal: opts.signal })
      : null;
    try {
      if (lock && isStageComplete(stageDir)) {
        reuse('; trained meanwhile by another process');
        continue;
      }
      const ctx: StageContext = {
        config,
        inputs,
        stageDir,
        rng: new Rng(stageSeed(stage, config)).fork(stage),
        metrics: (row) => run.logMetrics(stage, row),
        rewindMetrics: (step) => truncateMetrics(run.dir, stage, step),
        progress: opts.progress,
        log,
        signal: opts.signal,
        // A shared stage that another run left half-done continues from its last checkpoint: the
        // hash guarantees it is the same computation.
        resume: opts.resume || shared,
        upstream: { ...upstream },
      };
      log(`${stage}: training in ${stageDir}`);
      let summary: Record<string, unknown>;
      try {
        summary = await opts.stages[stage]!(ctx);
      } catch (e) {
        throw explainWasmAbort(e, stage);
      }
      outcomes.push({ stage, dir: stageDir, hash, reused: false, seconds: (Date.now() - t0) / 1000, summary });
      if (stage !== 'rl') upstream[stage] = stageDir;
    } finally {
      lock?.release();
    }
  }
  return { inputs, outcomes };
}
