/**
 * The `ranker` stage (docs/METHOD.md 2.3): train the "production ranker" with binary cross-entropy on
 * exposure-biased logs.
 *
 * - Synthetic world: its logged impressions. One training example = one impression: the history
 *   sequences[user].slice(0, position), the S items shown and their clicks.
 * - Real logs (no impressions): one example = one training position p >= 1 of a user's training
 *   prefix: the history train[u].slice(0, p), the observed item train[u][p] as the positive, and
 *   `ranker.negativesPerPositive` negatives drawn per step ∝ trainCount^`ranker.exposureBias`
 *   (the exposure a popularity-driven production system would have given them).
 * Either way a batch is B histories x G candidates with 0/1 labels, exactly the layout the RL
 * stage scores rollouts in.
 *
 * Model selection uses what production would have: a held-out exposure-biased log (5% of the
 * impressions; or the validation targets with exposure-sampled negatives). The unbiased
 * evaluation of src/eval/rankerEval.ts runs once at the end and is reported, never selected on.
 *
 * Resume, the schedule, validation, checkpoints, the divergence guard and interrupts are the
 * shared stage loop's (src/train/loop.ts); this file brings the batch, the loss and the diagnostics.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import type { RankerConfig } from '../config/schema.js';
import { UserError } from '../errors.js';
import { atomicWriteJson } from '../io/atomic.js';
import { trainItemCounts } from '../data/splits.js';
import type { Dataset, Impression, Splits } from '../data/types.js';
import { packHistories, Ranker } from '../model/ranker.js';
import { AliasFreeSampler, Rng } from '../rng.js';
import { auc, gauc } from '../eval/auc.js';
import { evaluateRanker, formatRankerEval, type RankerEvalResult } from '../eval/rankerEval.js';
import { accumulatedGrads, microRanges } from './accumulate.js';
import { meanReports, runStageLoop } from './loop.js';
import { AdamW } from './optimizer.js';
import type { StageContext } from './context.js';
import { loadRanker, rankerArch, type RankerExtra } from '../model/load.js';
import { stageHash } from './pipeline.js';

// ---------------------------------------------------------------------------------------------
// Loss

export interface BceOutput {
  /** Mean binary cross-entropy over all B*G pairs. */
  loss: tf.Scalar;
  /** Mean predicted click probability on positives / on negatives (NaN if none). */
  meanProbPos: tf.Scalar;
  meanProbNeg: tf.Scalar;
}

/**
 * Binary cross-entropy on logits, in the overflow-free form
 * max(z, 0) - z*y + log(1 + exp(-|z|)).
 * @param logits [B, G]
 * @param labels [B, G] in {0, 1}
 */
export function bceWithLogits(logits: tf.Tensor, labels: tf.Tensor): BceOutput {
  return tf.tidy(() => {
    const perPair = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    const p = tf.sigmoid(logits);
    const neg = tf.sub(1, labels);
    return {
      loss: tf.mean(perPair) as tf.Scalar,
      meanProbPos: tf.div(tf.sum(tf.mul(p, labels)), tf.sum(labels)) as tf.Scalar,
      meanProbNeg: tf.div(tf.sum(tf.mul(p, neg)), tf.sum(neg)) as tf.Scalar,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Data

/** A fixed labelled log: N histories x G candidates. */
export interface LabelledSet {
  G: number;
  /** [N] histories in time order (views, not copies). */
  histories: Int32Array[];
  /** [N] user of each row (GAUC groups). */
  users: Int32Array;
  /** [N*G] candidate items. */
  items: Int32Array;
  /** [N*G] 0/1 labels. */
  labels: Float32Array;
}

/** Training positions of a real log: history = prefix before the positive. */
export interface PositiveExamples {
  histories: Int32Array[];
  users: Int32Array;
  positives: Int32Array;
}

/** The synthetic world's logged impressions as a LabelledSet (all must show the same S items). */
export function impressionSet(dataset: Dataset, impressions: Impression[]): LabelledSet {
  const N = impressions.length;
  const G = N > 0 ? impressions[0].items.length : 0;
  const set: LabelledSet = { G, histories: new Array(N), users: new Int32Array(N), items: new Int32Array(N * G), labels: new Float32Array(N * G) };
  impressions.forEach((imp, k) => {
    if (imp.items.length !== G) throw new Error(`impression ${k} shows ${imp.items.length} items, expected ${G}`);
    set.histories[k] = dataset.sequences[imp.user].subarray(0, imp.position);
    set.users[k] = imp.user;
    set.items.set(imp.items, k * G);
    for (let j = 0; j < G; j++) set.labels[k * G + j] = imp.clicks[j];
  });
  return set;
}

/** Every position p >= 1 of every training prefix. */
export function trainingPositives(splits: Splits): PositiveExamples {
  let n = 0;
  for (const seq of splits.train) n += Math.max(0, seq.length - 1);
  const out: PositiveExamples = { histories: new Array(n), users: new Int32Array(n), positives: new Int32Array(n) };
  let k = 0;
  splits.train.forEach((seq, u) => {
    for (let p = 1; p < seq.length; p++, k++) {
      out.histories[k] = seq.subarray(0, p);
      out.users[k] = u;
      out.positives[k] = seq[p];
    }
  });
  return out;
}

/**
 * The exposure distribution of real logs: item i is shown ∝ count_i^alpha (alpha 0 = uniform;
 * with alpha > 0 an item never seen in training is never shown).
 */
export function exposureWeights(counts: ArrayLike<number>, alpha: number): Float64Array {
  const w = new Float64Array(counts.length);
  for (let i = 0; i < counts.length; i++) w[i] = alpha === 0 ? 1 : Math.pow(counts[i], alpha);
  return w;
}

/** Draw an exposure-sampled negative different from `positive` (a few retries, then any). */
function drawNegative(sampler: AliasFreeSampler, rng: Rng, positive: number): number {
  let it = sampler.sample(rng);
  for (let tries = 0; it === positive && tries < 8; tries++) it = sampler.sample(rng);
  return it;
}

/** Rows [positive, k negatives] with labels [1, 0 x k]. */
export function withSampledNegatives(ex: PositiveExamples, rows: ArrayLike<number>, k: number, sampler: AliasFreeSampler, rng: Rng): LabelledSet {
  const N = rows.length;
  const G = 1 + k;
  const set: LabelledSet = { G, histories: new Array(N), users: new Int32Array(N), items: new Int32Array(N * G), labels: new Float32Array(N * G) };
  for (let r = 0; r < N; r++) {
    const e = rows[r];
    set.histories[r] = ex.histories[e];
    set.users[r] = ex.users[e];
    set.items[r * G] = ex.positives[e];
    set.labels[r * G] = 1;
    for (let j = 1; j < G; j++) set.items[r * G + j] = drawNegative(sampler, rng, ex.positives[e]);
  }
  return set;
}

export interface Batch {
  B: number;
  G: number;
  /** [B*H] packed histories (see packHistories). */
  history: Int32Array;
  /** [B*G] */
  items: Int32Array;
  /** [B*G] */
  labels: Float32Array;
}

export function batchOf(set: LabelledSet, rows: ArrayLike<number>, H: number, pad: number): Batch {
  const B = rows.length;
  const G = set.G;
  const hs = Array.from({ length: B }, (_, r) => set.histories[rows[r]]);
  const items = new Int32Array(B * G);
  const labels = new Float32Array(B * G);
  for (let r = 0; r < B; r++) {
    items.set(set.items.subarray(rows[r] * G, (rows[r] + 1) * G), r * G);
    labels.set(set.labels.subarray(rows[r] * G, (rows[r] + 1) * G), r * G);
  }
  return { B, G, history: packHistories(hs, 0, B, H, pad), items, labels };
}

/** Where training batches come from: a fixed log, or positives with freshly drawn negatives. */
interface BatchSource {
  size: number;
  next(rng: Rng, B: number): Batch;
}

/** Share of impressions held out as the exposure-biased validation log. */
export const HOLDOUT_SHARE = 0.05;
/** Cap on validation rows (impressions or users) scored at each validation step. */
export const MAX_VALID_ROWS = 10_000;

export interface RankerData {
  kind: 'impressions' | 'sampled-negatives';
  train: BatchSource;
  /** Held-out exposure-biased log for model selection. */
  valid: LabelledSet;
  numItems: number;
}

/**
 * Build training and validation data. `holdRng` fixes the held-out log; it must not vary on resume.
 * With `bootstrapRng`, the training rows (impressions, or training positions) are one bootstrap
 * resample of them, drawn with replacement: the data of one ensemble member (docs/METHOD.md 2.5).
 */
export function rankerData(dataset: Dataset, splits: Splits, rc: RankerConfig, holdRng: Rng, bootstrapRng?: Rng): RankerData {
  const resample = (rows: Int32Array) => (bootstrapRng ? rows.map(() => rows[bootstrapRng.int(rows.length)]) : rows);
  const numItems = dataset.itemIds.length;
  const H = rc.maxHistory;
  const pad = numItems;
  const truth = dataset.truth;
  if (truth && truth.impressions.length > 0) {
    const all = impressionSet(dataset, truth.impressions);
    const order = holdRng.shuffle(Array.from({ length: all.histories.length }, (_, i) => i));
    const nValid = Math.min(MAX_VALID_ROWS, Math.max(1, Math.round(HOLDOUT_SHARE * order.length)));
    if (order.length < 2) throw new UserError(`the synthetic world logged ${order.length} impressions; the ranker needs at least 2`);
    const validRows = order.slice(0, nValid).sort((a, b) => a - b);
    const trainRows = resample(Int32Array.from(order.slice(nValid).sort((a, b) => a - b)));
    const valid = subset(all, validRows);
    return {
      kind: 'impressions',
      numItems,
      valid,
      train: {
        size: trainRows.length,
        next: (rng, B) => {
          const rows = new Int32Array(B);
          for (let r = 0; r < B; r++) rows[r] = trainRows[rng.int(trainRows.length)];
          return batchOf(all, rows, H, pad);
        },
      },
    };
  }
  const pos = trainingPositives(splits);
  if (pos.positives.length === 0) throw new UserError('no training positions: every training prefix has a single item; the ranker cannot train');
  const counts = trainItemCounts(splits, numItems);
  const sampler = new AliasFreeSampler(exposureWeights(counts, rc.exposureBias));
  const k = rc.negativesPerPositive;
  // Validation: each user's validation target with exposure-sampled negatives, drawn once.
  const validUsers = holdRng.shuffle(Array.from({ length: splits.valid.length }, (_, i) => i)).slice(0, MAX_VALID_ROWS).sort((a, b) => a - b);
  const vEx: PositiveExamples = {
    histories: validUsers.map((u) => splits.valid[u].history),
    users: Int32Array.from(validUsers.map((u) => splits.valid[u].user)),
    positives: Int32Array.from(validUsers.map((u) => splits.valid[u].target)),
  };
  const valid = withSampledNegatives(vEx, Int32Array.from(vEx.positives.keys()), k, sampler, holdRng);
  const trainRows = resample(Int32Array.from(pos.positives.keys()));
  return {
    kind: 'sampled-negatives',
    numItems,
    valid,
    train: {
      size: pos.positives.length,
      next: (rng, B) => {
        const rows = new Int32Array(B);
        for (let r = 0; r < B; r++) rows[r] = trainRows[rng.int(trainRows.length)];
        const set = withSampledNegatives(pos, rows, k, sampler, rng);
        return batchOf(set, Int32Array.from(rows.keys()), H, pad);
      },
    },
  };
}

function subset(set: LabelledSet, rows: number[]): LabelledSet {
  const G = set.G;
  const out: LabelledSet = {
    G,
    histories: rows.map((r) => set.histories[r]),
    users: Int32Array.from(rows.map((r) => set.users[r])),
    items: new Int32Array(rows.length * G),
    labels: new Float32Array(rows.length * G),
  };
  rows.forEach((r, k) => {
    out.items.set(set.items.subarray(r * G, (r + 1) * G), k * G);
    out.labels.set(set.labels.subarray(r * G, (r + 1) * G), k * G);
  });
  return out;
}

/** AUC (pooled) and GAUC (per user, impression-weighted) of the ranker on a labelled log. */
export async function logAuc(ranker: Ranker, set: LabelledSet, batchSize: number): Promise<{ auc: number; gauc: number }> {
  const scores = await ranker.scoreItems(set.histories, set.items, set.G, batchSize);
  const groups = new Int32Array(set.items.length);
  for (let r = 0; r < set.users.length; r++) groups.fill(set.users[r], r * set.G, (r + 1) * set.G);
  return { auc: auc(scores, set.labels), gauc: gauc(scores, set.labels, groups, 'impressions').gauc };
}

// ---------------------------------------------------------------------------------------------
// One optimisation step

export interface StepResult {
  loss: number;
  meanProbPos: number;
  meanProbNeg: number;
  gradNorm: number;
}

/**
 * Forward + BCE + backward + AdamW on one batch, in passes of at most `micro` rows (0 = one
 * pass). The loss is a mean over the B*G pairs, so pass k is weighted by its share of rows; the
 * diagnostics by their share of positives and negatives. Leaves no tensors behind.
 */
export async function rankerStep(ranker: Ranker, opt: AdamW, batch: Batch, lr: number, micro = 0): Promise<StepResult> {
  const H = ranker.arch.maxHistory;
  const G = batch.G;
  const ranges = microRanges(batch.B, micro);
  const count = (from: number, to: number, label: number) => batch.labels.subarray(from * G, to * G).reduce((n, y) => n + (y === label ? 1 : 0), 0);
  const [pos, neg] = [count(0, batch.B, 1), count(0, batch.B, 0)];
  const { value, grads, aux } = accumulatedGrads([...ranker.params.values()], ranges.length, (k) => {
    const [s, e] = ranges[k];
    const n = e - s;
    const hist = tf.tensor2d(batch.history.subarray(s * H, e * H), [n, H], 'int32');
    const cand = tf.tensor2d(batch.items.subarray(s * G, e * G), [n, G], 'int32');
    const labels = tf.tensor2d(batch.labels.subarray(s * G, e * G), [n, G]);
    const loss = () => {
      const out = bceWithLogits(ranker.logits(hist, cand), labels);
      if (ranges.length === 1) return { loss: out.loss, aux: [out.meanProbPos, out.meanProbNeg] };
      // A pass without positives (or negatives) has a NaN mean there, and no share of it.
      const share = (mean: tf.Scalar, part: number, all: number) => (part > 0 ? (tf.mul(mean, part / all) as tf.Scalar) : tf.scalar(0));
      return {
        loss: tf.mul(out.loss, n / batch.B) as tf.Scalar,
        aux: [share(out.meanProbPos, count(s, e, 1), pos), share(out.meanProbNeg, count(s, e, 0), neg)],
      };
    };
    return { inputs: [hist, cand, labels], loss };
  });
  const probs = tf.stack(aux); // [2]: queued before the step's read-back, read after it
  // A non-finite loss must not reach the weights (AdamW skips the update): the caller stops with
  // the last good checkpoint. AdamW maps tfjs variable names to its keys.
  const stats = await opt.step(grads, lr, value);
  const [pPos, pNeg] = await probs.data();
  tf.dispose([value, probs, ...aux, ...Object.values(grads)]);
  const loss = stats.loss!;
  return { loss, meanProbPos: pPos, meanProbNeg: pNeg, gradNorm: Number.isFinite(loss) ? stats.gradNorm : NaN };
}

// ---------------------------------------------------------------------------------------------
// The stage

/** Summary of the ranker stage. A type alias (not an interface) so it is a Record<string, unknown>. */
export type RankerStageResult = {
  bestStep: number;
  /** Validation-log AUC at the best step. */
  bestMetric: number;
  eval?: RankerEvalResult;
};

export async function trainRanker(ctx: StageContext): Promise<RankerStageResult> {
  const { config, inputs } = ctx;
  const rc = config.ranker;
  const configHash = stageHash('ranker', config, inputs);

  // Forks in a fixed order: the held-out log and the init are the same on a fresh start and on resume.
  const holdRng = ctx.rng.fork('holdout');
  const initRng = ctx.rng.fork('init');
  const batchRng = ctx.rng.fork('batches');

  const data = rankerData(inputs.dataset, inputs.splits, rc, holdRng);
  ctx.log(
    `ranker: ${data.kind === 'impressions' ? `${data.train.size} logged impressions` : `${data.train.size} training positions x (1 + ${rc.negativesPerPositive} exposure-sampled negatives, alpha ${rc.exposureBias})`}, ` +
      `${data.valid.histories.length} held-out validation rows; ${rc.encoder} encoder, dim ${rc.dim}, ${rc.steps} steps of ${rc.batchSize}`,
  );

  const ranker = Ranker.create(data.numItems, rankerArch(rc), initRng);
  const opt = new AdamW(ranker.params, {
    weightDecay: rc.weightDecay,
    gradClip: rc.gradClip,
    noDecay: (n) => n.endsWith('Bias') || /\/b\d$/.test(n),
  });
  let loop;
  try {
    loop = await runStageLoop({
      stage: 'ranker',
      ctx,
      configHash,
      steps: rc.steps,
      schedule: rc,
      rng: batchRng,
      params: ranker.params,
      optimizer: opt,
      logEvery: 10,
      extra: () => ({ numItems: ranker.numItems, arch: ranker.arch }) satisfies RankerExtra,
      step: async (_step, lr, rng) => ({ ...(await rankerStep(ranker, opt, data.train.next(rng, rc.batchSize), lr, rc.microBatchSize)) }),
      summarize: (reports, seconds) => ({ ...meanReports(reports), stepsPerSec: seconds > 0 ? reports.length / seconds : 0 }),
      progressFields: (m) => ({ loss: m.loss, 'p+': m.meanProbPos, 'p-': m.meanProbNeg }),
      validate: async (step) => {
        const v = await logAuc(ranker, data.valid, config.eval.batchSize);
        ctx.metrics({ kind: 'eval', split: 'valid-log', step, auc: v.auc, gauc: v.gauc });
        return v.auc;
      },
      metricName: 'held-out log AUC',
    });
  } catch (e) {
    ranker.dispose();
    throw e;
  } finally {
    opt.dispose();
  }
  const best = { step: loop.bestStep, metric: loop.bestMetric };
  const step = loop.finalStep;

  // The unbiased evaluation of the ranker RL will use (the best one).
  let evalResult: RankerEvalResult | undefined;
  const bestRanker = best.step === step ? ranker : loadRanker(ctx.stageDir, 'best', config, { configHash });
  try {
    evalResult = await evaluateRanker(bestRanker, inputs.dataset, inputs.splits, config, { split: 'valid' });
    atomicWriteJson(path.join(ctx.stageDir, 'eval-best-valid.json'), evalResult);
    ctx.log(`ranker (best, step ${best.step}) on ${evalResult.split}:\n${formatRankerEval(evalResult)}`);
    ctx.metrics({ kind: 'rankerEval', step: best.step, ...summaryRow(evalResult) });
  } finally {
    if (bestRanker !== ranker) bestRanker.dispose();
    ranker.dispose();
  }
  return { bestStep: best.step, bestMetric: best.metric, eval: evalResult };
}

/** Flat metrics row of an evaluation: `<group>_auc`, `<group>_gauc`, `<group>_spearman`. */
function summaryRow(r: RankerEvalResult): Record<string, number> {
  const row: Record<string, number> = {};
  for (const g of r.rows) {
    row[`${g.group}_auc`] = g.auc;
    row[`${g.group}_gauc`] = g.gauc;
    if (g.spearman !== undefined) row[`${g.group}_spearman`] = g.spearman;
  }
  return row;
}
