/**
 * The SFT stage (DESIGN 2.2): supervised next-item NLL of the policy on the training prefixes.
 *
 * Each step takes `sft.batchSize` users (epochs of shuffled users, length-bucketed) and one window of at most
 * maxHistory+1 consecutive items from each. With `sft.targets: all` (default) every item of the
 * window is a target, predicted from BOS and the items before it in one causal pass (like
 * SASRec); with `last` only the window's final item is, and the window end is drawn anywhere in
 * the sequence so every position can be a target. AdamW with linear warmup + cosine decay and
 * global-norm clipping. Validation HR@10 (beam search on `eval.maxUsers` valid users) every
 * `eval.every` steps and at the end picks the `best` checkpoint.
 *
 * Reproducibility: batches are a function of (data seed, step) and dropout masks are drawn from
 * the stage Rng, whose state is saved in every checkpoint, so a resumed run replays the
 * uninterrupted one exactly on the same backend.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { evaluatePolicy } from '../eval/evaluate.js';
import { CHECKPOINT_FORMAT, loadCheckpoint, pruneCheckpoints, resolveCheckpoint, saveCheckpoint, setPointer } from '../model/checkpoint.js';
import { Policy, buildSequences, sidLayout } from '../model/policy.js';
import { Rng } from '../rng.js';
import { InterruptedError, NonFiniteLossError, type StageContext } from './context.js';
import { accumulatedGrads, microRanges } from './accumulate.js';
import { AdamW, learningRate, restoreLast } from './optimizer.js';
import { stageHash } from './pipeline.js';

/** Version of what an SFT checkpoint holds beyond the generic checkpoint format. */
export const SFT_FORMAT = 1;
/** A metrics row (mean loss, lr, throughput) every this many steps, and at the last step. */
export const LOG_EVERY = 10;

export interface SftResult {
  bestStep: number;
  /** Validation HR@10 at the best step. */
  bestMetric: number;
  finalStep: number;
}

/**
 * The window of one training sequence. `all`: the whole sequence if it fits, else a uniformly
 * placed run of `maxItems` consecutive items. `last`: a uniformly drawn end position e (the
 * target is item e-1) and up to maxItems-1 items before it.
 */
export function trainingWindow(seq: Int32Array, maxItems: number, targets: 'all' | 'last', rng: Rng): Int32Array {
  const n = seq.length;
  if (targets === 'last') {
    const end = 1 + rng.int(n);
    return seq.subarray(Math.max(0, end - maxItems), end);
  }
  if (n <= maxItems) return seq;
  const start = rng.int(n - maxItems + 1);
  return seq.subarray(start, start + maxItems);
}

/** A deterministic seed from a few integers (splitmix-style mixing), for per-epoch and per-step streams. */
function mixSeed(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Batches per length bucket: users are sorted by length within a bucket of this many batches. */
export const BUCKET_BATCHES = 8;

/**
 * One epoch's batches of users: the users shuffled by (dataSeed, epoch), cut into buckets of
 * BUCKET_BATCHES batches, each bucket sorted by window length and cut into batches (similar
 * lengths waste little on padding: attention costs T^2), then the batch order shuffled. The
 * U mod B users left over sit this epoch out (a different few each epoch). A function of
 * (dataSeed, epoch) alone, so resuming needs only the step.
 */
export function epochBatches(users: readonly number[], lengths: ArrayLike<number>, batchSize: number, dataSeed: number, epoch: number): number[][] {
  const rng = new Rng(mixSeed(dataSeed, epoch));
  const perm = rng.shuffle([...users]);
  const B = Math.min(batchSize, perm.length);
  const nb = Math.floor(perm.length / B);
  const batches: number[][] = [];
  for (let start = 0; start < nb * B; start += B * BUCKET_BATCHES) {
    const bucket = perm.slice(start, Math.min(nb * B, start + B * BUCKET_BATCHES)).sort((a, b) => lengths[a] - lengths[b] || a - b);
    for (let i = 0; i < bucket.length; i += B) batches.push(bucket.slice(i, i + B));
  }
  return rng.shuffle(batches);
}

/** Users of each step: epochs of epochBatches, the current epoch's plan cached. */
export class BatchPlan {
  private epoch = -1;
  private batches: number[][] = [];
  constructor(
    private readonly pool: readonly number[],
    private readonly lengths: ArrayLike<number>,
    private readonly batchSize: number,
    private readonly dataSeed: number,
  ) {}

  get perEpoch(): number {
    return Math.max(1, Math.floor(this.pool.length / Math.min(this.batchSize, this.pool.length)));
  }

  batch(step: number): number[] {
    const e = Math.floor(step / this.perEpoch);
    if (e !== this.epoch) {
      this.batches = epochBatches(this.pool, this.lengths, this.batchSize, this.dataSeed, e);
      this.epoch = e;
    }
    return this.batches[step - e * this.perEpoch];
  }
}

/**
 * Loss and gradients of one SFT step over `windows`, in passes of at most `micro` windows (0 =
 * one pass). The loss is a mean over target items (or over windows with `lastOnly`), so pass k
 * is weighted by its share of them; the sum is the full-batch loss and its gradient.
 */
export function sftStepGrads(
  policy: Policy,
  codes: Int32Array,
  windows: Int32Array[],
  lastOnly: boolean,
  micro: number,
  rng: Rng,
): { value: tf.Scalar; grads: tf.NamedTensorMap; realTokens: number } {
  const ranges = microRanges(windows.length, micro);
  const targetsOf = (ws: Int32Array[]) => (lastOnly ? ws.length : ws.reduce((n, w) => n + w.length, 0));
  const total = targetsOf(windows);
  let realTokens = 0;
  const { value, grads } = accumulatedGrads([...policy.params.values()], ranges.length, (k) => {
    const part = windows.slice(ranges[k][0], ranges[k][1]);
    const batch = buildSequences(policy.layout, codes, part);
    realTokens += batch.realTokens;
    const loss = () => {
      const mean = policy.sequenceLoss(batch, lastOnly, { rng }); // over this pass's targets
      return { loss: ranges.length === 1 ? mean : (tf.mul(mean, targetsOf(part) / total) as tf.Scalar) };
    };
    return { inputs: [batch.tokens, batch.positions, batch.keyBias, batch.targets, batch.weights], loss };
  });
  return { value, grads, realTokens };
}

/** What an SFT checkpoint records besides weights, for loadPolicy and resume. */
interface SftExtra {
  sftFormat: number;
  dataSeed: number;
  codebookSizes: number[];
  policy: Config['policy'];
}

export async function trainSft(ctx: StageContext): Promise<SftResult> {
  const { config, inputs } = ctx;
  const sc = config.sft;
  const configHash = stageHash('sft', config, inputs);
  const codes = inputs.sids.codes;
  const layout = sidLayout(inputs.sids.codebookSizes);
  const maxItems = config.policy.maxHistory + 1;
  const lastOnly = sc.targets === 'last';

  // 1. Data: every user with at least one training item.
  const train = inputs.splits.train;
  const users = train.map((s, u) => (s.length > 0 ? u : -1)).filter((u) => u >= 0);
  if (users.length === 0) throw new UserError('sft: no user has a training item (every sequence is too short for leave-one-out); check the data');

  // 2. Model and optimizer.
  let rng = ctx.rng;
  const policy = Policy.create(config.policy, layout, rng);
  const optimizer = new AdamW(policy.params, { weightDecay: sc.weightDecay, gradClip: sc.gradClip, noDecay: Policy.noDecay });
  let step = 0;
  let best = { step: -1, metric: -Infinity };
  let dataSeed = rng.nextU32();

  const save = (atStep: number) => {
    const extra: SftExtra = { sftFormat: SFT_FORMAT, dataSeed, codebookSizes: [...layout.codebookSizes], policy: config.policy };
    saveCheckpoint(ctx.stageDir, new Map<string, tf.Tensor>([...policy.params, ...optimizer.stateTensors()]), {
      formatVersion: CHECKPOINT_FORMAT,
      stage: 'sft',
      step: atStep,
      rng: rng.state(),
      configHash,
      bestMetric: Number.isFinite(best.metric) ? best.metric : null,
      bestStep: best.step >= 0 ? best.step : null,
      optimizerStep: optimizer.t,
      extra: extra as unknown as Record<string, unknown>,
    });
  };

  try {
    // 3. Resume from the last checkpoint (same config hash only).
    const resumed = restoreLast(ctx.stageDir, 'sft', configHash, ctx.resume, policy.params, optimizer);
    if (resumed) {
      step = resumed.step;
      best = { step: resumed.bestStep ?? -1, metric: resumed.bestMetric ?? -Infinity };
      dataSeed = (resumed.extra as unknown as SftExtra).dataSeed;
      rng = Rng.restore(resumed.rng);
      ctx.log(`sft: resumed at step ${step}`);
      if (step >= sc.steps && fs.existsSync(path.join(ctx.stageDir, 'final.json'))) {
        return { bestStep: best.step, bestMetric: best.metric, finalStep: step };
      }
    }
    ctx.log(
      `sft: ${policy.numParams().toLocaleString('en-US')} parameters, ${users.length} users, ${sc.steps} steps of ${sc.batchSize} ` +
        `sequences (targets: ${sc.targets})`,
    );

    // The model-selection metric: validation HR@10 (HR@ the largest K when 10 is not among eval.ks).
    const selK = config.eval.ks.includes(10) ? 10 : Math.max(...config.eval.ks.filter((k) => k <= config.eval.beam));
    const validate = (atStep: number): number => {
      const r = evaluatePolicy(policy, inputs, config, { split: 'valid' });
      ctx.metrics({ step: atStep, kind: 'valid', users: r.users, beam: r.beam, seconds: r.seconds, ...r.metrics });
      return r.metrics[`hr@${selK}`];
    };

    // 4. The loop: one batch, one AdamW update, then logging, validation and checkpoints.
    const plan = new BatchPlan(users, Int32Array.from(train, (s) => Math.min(s.length, maxItems)), sc.batchSize, dataSeed);
    const bar = ctx.progress('sft', sc.steps);
    let lossSum = 0;
    let lossCount = 0;
    let tokens = 0;
    let gradNorm = 0;
    let intervalStart = performance.now();
    try {
      while (step < sc.steps) {
        const stepRng = new Rng(mixSeed(dataSeed, step, 0x5f7));
        const windows = plan.batch(step).map((u) => trainingWindow(train[u], maxItems, sc.targets, stepRng));
        const lr = learningRate(step, sc, sc.steps);
        const { value, grads, realTokens } = sftStepGrads(policy, codes, windows, lastOnly, sc.microBatchSize, rng);
        const loss = (value.dataSync() as Float32Array)[0];
        value.dispose();
        if (!Number.isFinite(loss)) {
          tf.dispose(Object.values(grads));
          throw new NonFiniteLossError('sft', step + 1, 'the NLL loss');
        }
        gradNorm = optimizer.step(grads, lr).gradNorm; // AdamW maps tfjs variable names to its keys
        tf.dispose(Object.values(grads));
        // Overflowing gradients can pass with a finite loss; nothing of this step is saved.
        if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError('sft', step + 1, 'the gradient norm');
        lossSum += loss;
        lossCount++;
        tokens += realTokens;
        step++;
        let savedAt = -1;

        if (step % LOG_EVERY === 0 || step === sc.steps) {
          const secs = (performance.now() - intervalStart) / 1000;
          const row = { step, kind: 'train', loss: lossSum / lossCount, lr, gradNorm, tokensPerSec: secs > 0 ? tokens / secs : 0 };
          ctx.metrics(row);
          bar.update(step, { loss: row.loss, lr, 'tok/s': Math.round(row.tokensPerSec) });
          lossSum = 0;
          lossCount = 0;
          tokens = 0;
          intervalStart = performance.now();
        } else {
          bar.update(step);
        }

        if (step % config.eval.every === 0 || step === sc.steps) {
          const hr = validate(step);
          if (hr > best.metric) {
            best = { step, metric: hr };
            save(step);
            savedAt = step;
            setPointer(ctx.stageDir, 'best', step, hr);
          }
          bar.log(`sft step ${step}: valid HR@${selK} ${hr.toFixed(4)} (best ${best.metric.toFixed(4)} at step ${best.step})`);
          // Validation time is not training throughput.
          intervalStart = performance.now();
        }
        // A step is synchronous tfjs work: give the event loop a turn so Ctrl-C (SIGINT) is seen.
        await new Promise((resolve) => setImmediate(resolve));
        if (savedAt !== step && (step % sc.checkpointEvery === 0 || step === sc.steps || (ctx.signal.aborted && step < sc.steps))) {
          save(step);
          savedAt = step;
        }
        if (savedAt === step) pruneCheckpoints(ctx.stageDir, 2);
        if (ctx.signal.aborted && step < sc.steps) throw new InterruptedError('sft', step);
      }
    } finally {
      bar.stop();
    }
    if (sc.steps === 0) {
      // Nothing to train: the initial policy is both best and final.
      const hr = validate(0);
      best = { step: 0, metric: hr };
      save(0);
      setPointer(ctx.stageDir, 'best', 0, hr);
    }
    setPointer(ctx.stageDir, 'final', step);
    return { bestStep: best.step, bestMetric: best.metric, finalStep: step };
  } finally {
    policy.dispose();
    optimizer.dispose();
  }
}

export interface LoadPolicyOptions {
  /** Weights are trainable variables (RL) or frozen (eval, pi_ref). Default false. */
  trainable?: boolean;
  /** Codebook sizes of the current SIDs: required for checkpoints that do not record them (RL), checked against those that do. */
  codebookSizes?: readonly number[];
}

/**
 * The policy of a checkpoint (`best` | `final` | `last` | `step_N`) in a stage folder (sft, or
 * rl when RL saves the policy weights under the same names). `config.policy` must be the one it
 * was trained with.
 */
export function loadPolicy(stageDir: string, which: string, config: Config, opts: LoadPolicyOptions = {}): Policy {
  const ck = loadCheckpoint(resolveCheckpoint(stageDir, which));
  try {
    const recorded = (ck.state.extra as Partial<SftExtra> | undefined)?.codebookSizes;
    const sizes = recorded ?? opts.codebookSizes;
    if (!sizes) throw new UserError(`checkpoint ${ck.dir} does not record its SID codebook sizes; pass them from the prepared inputs`);
    if (recorded && opts.codebookSizes && recorded.join(',') !== opts.codebookSizes.join(',')) {
      throw new UserError(
        `checkpoint ${ck.dir} was trained on SIDs with codebooks [${recorded}], the current SIDs have [${opts.codebookSizes}]; ` +
          `evaluate with the run's own config.yaml and data`,
      );
    }
    return Policy.fromTensors(config.policy, sidLayout(sizes), ck.tensors, `checkpoint ${ck.dir}`, opts.trainable ?? false);
  } finally {
    tf.dispose([...ck.tensors.values()]);
  }
}
