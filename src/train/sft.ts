/**
 * The SFT stage (docs/METHOD.md 2.2): supervised next-item NLL of the policy on the training prefixes.
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
 *
 * Resume, the schedule, validation, checkpoints, the divergence guard and interrupts are the
 * shared stage loop's (src/train/loop.ts); this file brings the batch, the loss and the diagnostics.
 */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../errors.js';
import { evaluatePolicy } from '../eval/evaluate.js';
import { Policy, buildSequences, sidLayout } from '../model/policy.js';
import { Rng, mixSeed } from '../rng.js';
import type { StageContext } from './context.js';
import type { SftExtra } from '../model/load.js';
import { accumulatedGrads, microRanges } from './accumulate.js';
import { meanReports, runStageLoop, selectionK } from './loop.js';
import { AdamW } from './optimizer.js';
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
  labelSmoothing = 0,
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
      const mean = policy.sequenceLoss(batch, lastOnly, { rng, labelSmoothing }); // over this pass's targets
      return { loss: ranges.length === 1 ? mean : (tf.mul(mean, targetsOf(part) / total) as tf.Scalar) };
    };
    return { inputs: [batch.tokens, batch.positions, batch.keyBias, batch.targets, batch.weights], loss };
  });
  return { value, grads, realTokens };
}

export async function trainSft(ctx: StageContext): Promise<SftResult> {
  const { config, inputs } = ctx;
  const sc = config.sft;
  const codes = inputs.sids.codes;
  const layout = sidLayout(inputs.sids.codebookSizes);
  const maxItems = config.policy.maxHistory + 1;
  const lastOnly = sc.targets === 'last';

  // 1. Data: every user with at least one training item.
  const train = inputs.splits.train;
  const users = train.map((s, u) => (s.length > 0 ? u : -1)).filter((u) => u >= 0);
  if (users.length === 0) throw new UserError('sft: no user has a training item (every sequence is too short for leave-one-out); check the data');

  // 2. Model and optimizer. The data seed orders the epochs; a resumed stage takes its own back.
  const policy = Policy.create(config.policy, layout, ctx.rng);
  const optimizer = new AdamW(policy.params, { weightDecay: sc.weightDecay, gradClip: sc.gradClip, noDecay: Policy.noDecay });
  let dataSeed = ctx.rng.nextU32();
  let plan: BatchPlan | null = null;
  const selK = selectionK(config);

  try {
    ctx.log(
      `sft: ${policy.numParams().toLocaleString('en-US')} parameters, ${users.length} users, ${sc.steps} steps of ${sc.batchSize} ` +
        `sequences (targets: ${sc.targets})`,
    );
    // 3. The loop: one batch of windows, one AdamW update per step.
    const r = await runStageLoop({
      stage: 'sft',
      ctx,
      configHash: stageHash('sft', config, inputs),
      steps: sc.steps,
      schedule: sc,
      params: policy.params,
      optimizer,
      logEvery: LOG_EVERY,
      extra: () => ({ sftFormat: SFT_FORMAT, dataSeed, codebookSizes: [...layout.codebookSizes], policy: config.policy }) satisfies SftExtra,
      onResume: (state) => {
        dataSeed = (state.extra as unknown as SftExtra).dataSeed;
      },
      step: async (step, lr, rng) => {
        plan ??= new BatchPlan(users, Int32Array.from(train, (s) => Math.min(s.length, maxItems)), sc.batchSize, dataSeed);
        const stepRng = new Rng(mixSeed(dataSeed, step, 0x5f7));
        const windows = plan.batch(step).map((u) => trainingWindow(train[u], maxItems, sc.targets, stepRng));
        const { value, grads, realTokens } = sftStepGrads(policy, codes, windows, lastOnly, sc.microBatchSize, rng, sc.labelSmoothing);
        // One read-back per step, the loss with the gradient norm. A non-finite loss: no update
        // (AdamW skips it; the loop stops the stage).
        const stats = await optimizer.step(grads, lr, value);
        tf.dispose([value, ...Object.values(grads)]);
        const loss = stats.loss!;
        return { loss, gradNorm: Number.isFinite(loss) ? stats.gradNorm : Number.NaN, tokens: realTokens };
      },
      summarize: (reports, seconds) => {
        const m = meanReports(reports);
        const tokens = reports.reduce((s, x) => s + x.tokens, 0);
        return { loss: m.loss, gradNorm: reports[reports.length - 1].gradNorm, tokensPerSec: seconds > 0 ? tokens / seconds : 0 };
      },
      progressFields: (m) => ({ loss: m.loss, 'tok/s': Math.round(m.tokensPerSec) }),
      validate: async (atStep) => {
        const v = await evaluatePolicy(policy, inputs, config, { split: 'valid' });
        ctx.metrics({ step: atStep, kind: 'valid', users: v.users, beam: v.beam, seconds: v.seconds, ...v.metrics });
        return v.metrics[`hr@${selK}`];
      },
      metricName: `valid HR@${selK}`,
    });
    return { bestStep: r.bestStep, bestMetric: r.bestMetric, finalStep: r.finalStep };
  } finally {
    policy.dispose();
    optimizer.dispose();
  }
}
