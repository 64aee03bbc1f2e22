/**
 * Discriminability estimators of the gate (docs/METHOD.md 2.5): for one sample, a number d_i in
 * [0, 1] that says how surely the reward separates the ground truth from its negatives N_i, and a
 * held-out-logs proxy of the ranker's reliability on that sample (what can be reported where the
 * true utility is unknown). The gate admits d_i ≥ ρ.
 *
 * - margin: the ranker's own scores, d = share of negatives scored below the truth. Blind to the
 *   ranker's real errors: a confidently wrong score counts as much as a right one.
 * - ensemble: K rankers trained on bootstrap resamples of the logs (the main ranker is member 0);
 *   a negative counts when the lower confidence bound of the ensemble's margin is above 0.
 * - exposure: each truth-vs-negative comparison counts in proportion to the ranker's pairwise
 *   accuracy on held-out logs for items of those two exposure buckets (tail and fresh items: few
 *   logs, accuracy near chance, weight near 0).
 * - calibrated: the predicted share of all candidate pairs the ranker orders right, from a
 *   held-out table of its pairwise accuracy by score gap and exposure buckets. It asks whether the
 *   reward's ordering of this sample can be trusted, not whether the truth wins.
 *
 * Everything here is a pure function of scores and tables; building the ensemble and the
 * calibration table is the RL stage's job (src/train/discriminators.ts).
 */
import type { ESTIMATORS } from '../config/schema.js';
import type { Ranker } from '../model/ranker.js';

export type EstimatorName = (typeof ESTIMATORS)[number];

export interface DiscEstimate {
  /** d_i in [0, 1]; NaN when there is no negative (never discriminable). */
  d: number;
  /** The estimator's held-out-logs proxy of the ranker's pairwise reliability on the sample. */
  proxy: number;
}

/**
 * d_i = share of negatives n with R(x, y) > R(x, n), ties counting ½. NaN when there is no
 * negative (then the sample is not discriminable: nothing shows the ranker separates anything).
 */
export function marginDisc(gtScore: number, negativeScores: ArrayLike<number>): number {
  if (negativeScores.length === 0) return Number.NaN;
  let wins = 0;
  for (let k = 0; k < negativeScores.length; k++) {
    if (gtScore > negativeScores[k]) wins += 1;
    else if (gtScore === negativeScores[k]) wins += 0.5;
  }
  return wins / negativeScores.length;
}

/**
 * Ensemble lower confidence bound. `gt[k]` is member k's score of the truth, `negs[n][k]` of
 * negative n (member 0 = the ranker that gives the reward). Per negative, with the margins
 * m_k = gt[k] − negs[n][k]: LCB = mean_k m − z · sd_k m (sample sd, divisor K−1), and the
 * negative counts 1 when LCB > 0, ½ when LCB = 0. d = mean over negatives. The proxy is the
 * members' agreement with member 0: the share of (member, negative) whose margin has member 0's sign.
 */
export function ensembleDisc(gt: ArrayLike<number>, negs: ArrayLike<number>[], z: number): DiscEstimate {
  const K = gt.length;
  if (negs.length === 0) return { d: Number.NaN, proxy: Number.NaN };
  if (K < 2) throw new Error(`ensembleDisc: ${K} member(s); an ensemble needs at least 2`);
  let wins = 0;
  let agree = 0;
  for (const neg of negs) {
    let sum = 0;
    for (let k = 0; k < K; k++) sum += gt[k] - neg[k];
    const m = sum / K;
    let ss = 0;
    for (let k = 0; k < K; k++) ss += (gt[k] - neg[k] - m) ** 2;
    const lcb = m - z * Math.sqrt(ss / (K - 1));
    wins += lcb > 0 ? 1 : lcb === 0 ? 0.5 : 0;
    const s0 = Math.sign(gt[0] - neg[0]);
    for (let k = 0; k < K; k++) agree += Math.sign(gt[k] - neg[k]) === s0 ? 1 : 0;
  }
  return { d: wins / negs.length, proxy: agree / (negs.length * K) };
}

/**
 * Per-exposure-bucket reliability of the ranker, learned on a held-out log (docs/METHOD.md 2.5).
 * `bucketOf[i]` is item i's bucket (0 = never exposed, then quantiles of logged exposure);
 * `accuracy[a * nb + b]` the smoothed pairwise accuracy of the ranker on held-out (clicked,
 * not clicked) pairs whose items fall in buckets a and b (symmetric); `pooled` the accuracy over
 * all held-out pairs.
 */
export interface ExposureCalibration {
  numBuckets: number;
  bucketOf: Uint8Array;
  accuracy: Float64Array;
  /** Held-out pairs behind each cell (before smoothing), for the report. */
  pairs: Float64Array;
  pooled: number;
}

/**
 * Weight of one comparison: how far above chance the ranker is on this bucket pair, relative to
 * how far above chance it is on average: clamp((2·acc − 1) / (2·pooled − 1), 0, 1). A pair of
 * never-exposed items (acc ≈ ½ by the prior) weighs ≈ 0; the well-logged head weighs 1.
 */
export function comparisonWeight(cal: ExposureCalibration, a: number, b: number): number {
  const acc = cal.accuracy[cal.bucketOf[a] * cal.numBuckets + cal.bucketOf[b]];
  const ref = 2 * cal.pooled - 1;
  if (!(ref > 0)) return 0; // a ranker at or below chance on held-out logs is never trusted
  return Math.min(1, Math.max(0, (2 * acc - 1) / ref));
}

/**
 * Exposure-aware d: (1/|N|) Σ_n w(y, n) · win_n, win_n ∈ {0, ½, 1} as in marginDisc. A sample
 * whose truth beats every negative scores 1 only when every comparison is on well-logged buckets.
 * The proxy is the mean calibrated accuracy acc(y, n) over the negatives.
 */
export function exposureDisc(cal: ExposureCalibration, gtItem: number, gtScore: number, negatives: ArrayLike<number>, negativeScores: ArrayLike<number>): DiscEstimate {
  if (negatives.length === 0) return { d: Number.NaN, proxy: Number.NaN };
  let sum = 0;
  let acc = 0;
  for (let n = 0; n < negatives.length; n++) {
    const win = gtScore > negativeScores[n] ? 1 : gtScore === negativeScores[n] ? 0.5 : 0;
    sum += comparisonWeight(cal, gtItem, negatives[n]) * win;
    acc += cal.accuracy[cal.bucketOf[gtItem] * cal.numBuckets + cal.bucketOf[negatives[n]]];
  }
  return { d: sum / negatives.length, proxy: acc / negatives.length };
}

/**
 * Buckets by logged exposure: 0 for items never exposed, then `buckets` quantile bins of the
 * exposure counts of the exposed items (bucket 1 = least exposed). Ties stay in one bucket.
 */
export function exposureBuckets(exposure: ArrayLike<number>, buckets: number): Uint8Array {
  const I = exposure.length;
  const out = new Uint8Array(I);
  const exposed = Array.from({ length: I }, (_, i) => i).filter((i) => exposure[i] > 0);
  exposed.sort((a, b) => exposure[a] - exposure[b] || a - b);
  for (let r = 0; r < exposed.length; r++) {
    // The bucket of the first item of a run of equal counts, so equal exposure means equal bucket.
    let first = r;
    while (first > 0 && exposure[exposed[first - 1]] === exposure[exposed[r]]) first--;
    out[exposed[r]] = 1 + Math.min(buckets - 1, Math.floor((first * buckets) / exposed.length));
  }
  return out;
}

/**
 * Every (clicked, not clicked) pair of candidates within one held-out row, with whether the ranker
 * got it right (1 scores the clicked one higher, ½ tie, 0 wrong): the held-out test the calibrated
 * estimators are fitted on.
 * @param scores [N*G] ranker logits of the held-out candidates
 */
function forEachHeldOutPair(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  G: number,
  visit: (clicked: number, notClicked: number, right: number) => void,
): void {
  for (let r = 0; r < labels.length / G; r++) {
    for (let p = r * G; p < (r + 1) * G; p++) {
      if (labels[p] !== 1) continue;
      for (let q = r * G; q < (r + 1) * G; q++) {
        if (labels[q] !== 0) continue;
        visit(p, q, scores[p] > scores[q] ? 1 : scores[p] === scores[q] ? 0.5 : 0);
      }
    }
  }
}

/** (right + prior·½) / (pairs + prior): with few held-out pairs a cell stays near chance, which is the point. */
const smoothed = (right: number, pairs: number, prior: number): number => (pairs + prior > 0 ? (right + prior / 2) / (pairs + prior) : 0.5);

/**
 * Fit the calibration on a held-out log: every (label 1, label 0) pair of candidates within a
 * row, counted in the cell of its two items' exposure buckets (both orders), accuracy smoothed
 * toward chance by `prior` pseudo-pairs.
 * @param scores [N*G] ranker logits of the held-out candidates
 */
export function fitExposureCalibration(
  bucketOf: Uint8Array,
  numBuckets: number,
  items: ArrayLike<number>,
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  G: number,
  prior: number,
): ExposureCalibration {
  const nb = numBuckets;
  const right = new Float64Array(nb * nb);
  const pairs = new Float64Array(nb * nb);
  let rightAll = 0;
  let pairsAll = 0;
  forEachHeldOutPair(labels, scores, G, (p, q, ok) => {
    const a = bucketOf[items[p]];
    const b = bucketOf[items[q]];
    for (const cell of a === b ? [a * nb + b] : [a * nb + b, b * nb + a]) {
      right[cell] += ok;
      pairs[cell] += 1;
    }
    rightAll += ok;
    pairsAll += 1;
  });
  const accuracy = new Float64Array(nb * nb);
  for (let c = 0; c < nb * nb; c++) accuracy[c] = smoothed(right[c], pairs[c], prior);
  return { numBuckets: nb, bucketOf, accuracy, pairs, pooled: pairsAll > 0 ? rightAll / pairsAll : 0.5 };
}

/**
 * The calibrated estimator's table (docs/METHOD.md 2.5): the reward ranker's held-out pairwise
 * accuracy as a function of how far apart it scores the two items (|Δ logit|, in `gapBins`
 * quantile bins of the held-out pairs' gaps) and of the two items' exposure buckets.
 */
export interface GapCalibration {
  numBuckets: number;
  bucketOf: Uint8Array;
  /** Ascending |Δ logit| bin edges, length gapBins − 1: a gap g falls in bin #{e ∈ edges : e ≤ g}. */
  gapEdges: Float64Array;
  /** [gapBins * numBuckets * numBuckets] smoothed accuracy of cell (gap bin, bucket a, bucket b), symmetric in a, b. */
  accuracy: Float64Array;
  /** Held-out pairs behind each cell (before smoothing). */
  pairs: Float64Array;
  pooled: number;
}

/** The |Δ logit| bin of `gap`: the number of edges at or below it (binary search; edges ascending). */
export function gapBin(edges: ArrayLike<number>, gap: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] <= gap) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Fit the gap × exposure calibration on a held-out log. Edges: the k/gapBins quantiles (k = 1..
 * gapBins−1) of the held-out pairs' |Δ logit|, so every gap bin holds about as many pairs. Each
 * pair counts in its (gap bin, bucket pair) cell, both bucket orders; accuracy smoothed toward
 * chance by `prior` pseudo-pairs, so a never-exposed item's comparisons stay near ½.
 * @param scores [N*G] ranker logits of the held-out candidates
 */
export function fitGapCalibration(
  bucketOf: Uint8Array,
  numBuckets: number,
  gapBins: number,
  items: ArrayLike<number>,
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  G: number,
  prior: number,
): GapCalibration {
  const nb = numBuckets;
  const held: { gap: number; a: number; b: number; ok: number }[] = [];
  forEachHeldOutPair(labels, scores, G, (p, q, ok) => held.push({ gap: Math.abs(scores[p] - scores[q]), a: bucketOf[items[p]], b: bucketOf[items[q]], ok }));
  const sorted = held.map((h) => h.gap).sort((x, y) => x - y);
  const gapEdges = new Float64Array(gapBins - 1);
  for (let k = 1; k < gapBins; k++) gapEdges[k - 1] = sorted.length > 0 ? sorted[Math.min(sorted.length - 1, Math.floor((k * sorted.length) / gapBins))] : 0;
  const right = new Float64Array(gapBins * nb * nb);
  const pairs = new Float64Array(gapBins * nb * nb);
  let rightAll = 0;
  for (const { gap, a, b, ok } of held) {
    const base = gapBin(gapEdges, gap) * nb * nb;
    for (const cell of a === b ? [base + a * nb + b] : [base + a * nb + b, base + b * nb + a]) {
      right[cell] += ok;
      pairs[cell] += 1;
    }
    rightAll += ok;
  }
  const accuracy = new Float64Array(gapBins * nb * nb);
  for (let c = 0; c < accuracy.length; c++) accuracy[c] = smoothed(right[c], pairs[c], prior);
  return { numBuckets: nb, bucketOf, gapEdges, accuracy, pairs, pooled: held.length > 0 ? rightAll / held.length : 0.5 };
}

/**
 * Calibrated d: the predicted share of the sample's candidate pairs that the reward ranker orders
 * right, i.e. the mean over all pairs {a, b} of C = {y} ∪ N of acc(gap bin of |R(a) − R(b)|,
 * bucket a, bucket b). It estimates the gate-precision quantity itself (docs/METHOD.md 2.5) from
 * what the held-out log shows, so d is also its own proxy. NaN with fewer than two candidates.
 * @param items the sample's candidates, truth first
 * @param scores their reward-ranker logits
 */
export function calibratedDisc(cal: GapCalibration, items: ArrayLike<number>, scores: ArrayLike<number>): DiscEstimate {
  const nb = cal.numBuckets;
  let sum = 0;
  let n = 0;
  for (let a = 0; a < items.length; a++) {
    for (let b = a + 1; b < items.length; b++) {
      sum += cal.accuracy[gapBin(cal.gapEdges, Math.abs(scores[a] - scores[b])) * nb * nb + cal.bucketOf[items[a]] * nb + cal.bucketOf[items[b]]];
      n++;
    }
  }
  const d = n > 0 ? sum / n : Number.NaN;
  return { d, proxy: d };
}

/**
 * What the RL step calls once per batch: given the candidate grid it already scored with the
 * reward ranker, a per-sample estimator. Ensemble members score the same grid here.
 */
/** The estimate of sample b of a batch, from its ground truth and negatives. */
export type BatchEstimate = (b: number, gtItem: number, negatives: Int32Array) => DiscEstimate;

export interface Discriminator {
  readonly name: EstimatorName;
  /**
   * @param cand [B*C] candidate items (−1 = none), C per sample
   * @param logits [B*C] the reward ranker's logits of cand
   */
  forBatch(histories: Int32Array[], cand: Int32Array, C: number, logits: Float32Array): BatchEstimate | Promise<BatchEstimate>;
  dispose(): void;
}

/** Score of `item` among sample b's candidates (the grid holds each item once per sample). */
function scoreIn(cand: Int32Array, C: number, scores: Float32Array, b: number, item: number): number {
  for (let c = b * C; c < (b + 1) * C; c++) if (cand[c] === item) return scores[c];
  throw new Error(`item ${item} is not among sample ${b}'s candidates`);
}

/** Today's margin test; its proxy is d itself (the ranker grading its own confidence). */
export const marginDiscriminator: Discriminator = {
  name: 'margin',
  forBatch: (_h, cand, C, logits) => (b, gt, negs) => {
    const d = marginDisc(scoreIn(cand, C, logits, b, gt), Array.from(negs, (n) => scoreIn(cand, C, logits, b, n)));
    return { d, proxy: d };
  },
  dispose: () => {},
};

/** Member 0 is the reward ranker (its logits are passed in); `members` are the bootstrap ones, owned. */
export function ensembleDiscriminator(members: Ranker[], z: number, batchSize: number): Discriminator {
  return {
    name: 'ensemble',
    // The members score the batch one after another (one read-back each; GPU reads are async).
    forBatch: async (histories, cand, C, logits) => {
      const all = [logits]; // K x [B*C]
      for (const m of members) all.push(await m.scoreItems(histories, cand, C, batchSize));
      return (b: number, gt: number, negs: Int32Array) =>
        ensembleDisc(
          all.map((s) => scoreIn(cand, C, s, b, gt)),
          Array.from(negs, (n) => all.map((s) => scoreIn(cand, C, s, b, n))),
          z,
        );
    },
    dispose: () => members.forEach((m) => m.dispose()),
  };
}

export function exposureDiscriminator(cal: ExposureCalibration): Discriminator {
  return {
    name: 'exposure',
    forBatch: (_h, cand, C, logits) => (b, gt, negs) =>
      exposureDisc(cal, gt, scoreIn(cand, C, logits, b, gt), negs, Array.from(negs, (n) => scoreIn(cand, C, logits, b, n))),
    dispose: () => {},
  };
}

export function calibratedDiscriminator(cal: GapCalibration): Discriminator {
  return {
    name: 'calibrated',
    forBatch: (_h, cand, C, logits) => (b, gt, negs) => {
      const items = [gt, ...negs];
      return calibratedDisc(cal, items, items.map((it) => scoreIn(cand, C, logits, b, it)));
    },
    dispose: () => {},
  };
}
