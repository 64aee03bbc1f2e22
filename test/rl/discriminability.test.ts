/** The gate's discriminability estimators (docs/METHOD.md 2.5) on hand-built cases, numbers by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import {
  calibratedDisc,
  calibratedDiscriminator,
  comparisonWeight,
  ensembleDisc,
  ensembleDiscriminator,
  exposureBuckets,
  exposureDisc,
  exposureDiscriminator,
  fitExposureCalibration,
  fitGapCalibration,
  gapBin,
  marginDisc,
  marginDiscriminator,
  type ExposureCalibration,
  type GapCalibration,
} from '../../src/rl/discriminability.js';
import { gateDiagnostics, gates, type GateSample } from '../../src/rl/gates.js';
import { Rng } from '../../src/rng.js';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

test('margin: share of negatives scored below the truth, ties ½; no negatives → NaN', () => {
  close(marginDisc(2, [1, 2, 3]), 0.5);
  assert.ok(Number.isNaN(marginDisc(2, [])));
});

test('ensemble: members that agree admit, members that disagree do not', () => {
  // Every member has the truth 2 above the negative: LCB = 2 − 1·0 > 0.
  const agree = ensembleDisc([2, 2, 2, 2], [[0, 0, 0, 0]], 1);
  assert.deepEqual(agree, { d: 1, proxy: 1 });
  // Margins [1, −1, 1, −1]: mean 0, sd √(4/3); LCB < 0. Half the members side with member 0.
  const split = ensembleDisc([2, 0, 2, 0], [[1, 1, 1, 1]], 1);
  assert.deepEqual(split, { d: 0, proxy: 0.5 });
  // The reward ranker (member 0) alone says the truth wins; the margin test would admit.
  close(marginDisc(2, [1]), 1);

  const cfg = loadConfig(undefined, { sets: ['gate.discriminability.rho=0.8', 'gate.difficulty.tau=0.5'] }).gate;
  const hard: GateSample = { gtItem: 0, rolloutItems: Int32Array.of(1, 2), rolloutLogProbs: Float32Array.of(-1, -1), gtLogProb: -5, meanEntropy: 1 };
  const diag = gateDiagnostics([hard, hard], Float64Array.of(split.d, agree.d), cfg);
  assert.deepEqual([...diag.hard], [1, 1]);
  assert.deepEqual([...gates.adagrpo.admit(diag, { rng: new Rng(1), randomP: 0 })], [0, 1]);
});

test('ensemble: the lower confidence bound per negative, by hand', () => {
  // Negative 1: margins [2, 1, 0], mean 1, sd 1 → LCB 0 → ½.
  // Negative 2: margins [3, 2, −1], mean 4/3, sd √(39/9) ≈ 2.08 → LCB < 0 → 0. d = 0.25.
  // Agreement with member 0 (+ on both): [+, +, 0] and [+, +, −] → 4 of 6.
  const e = ensembleDisc([3, 2, 1], [[1, 1, 1], [0, 0, 2]], 1);
  close(e.d, 0.25);
  close(e.proxy, 4 / 6);
  // z = 0 is the ensemble mean's margin test: both means are above 0.
  close(ensembleDisc([3, 2, 1], [[1, 1, 1], [0, 0, 2]], 0).d, 1);
  assert.ok(Number.isNaN(ensembleDisc([1, 2], [], 1).d));
  assert.throws(() => ensembleDisc([1], [[0]], 1), /at least 2/);
});

/** Items 0 (fresh, bucket 0), 1 and 2 (head, bucket 2), 3 (torso, bucket 1); head-head accuracy 0.8, pooled 0.75. */
function handCalibration(): ExposureCalibration {
  const nb = 3;
  const accuracy = new Float64Array(nb * nb).fill(0.5);
  accuracy[2 * nb + 2] = 0.8;
  accuracy[1 * nb + 2] = accuracy[2 * nb + 1] = 0.7;
  return { numBuckets: nb, bucketOf: Uint8Array.of(0, 2, 2, 1), accuracy, pairs: new Float64Array(nb * nb), pooled: 0.75 };
}

test('exposure: a comparison with a fresh item is down-weighted to nothing, the head counts fully', () => {
  const cal = handCalibration();
  close(comparisonWeight(cal, 1, 2), 1); // (2·0.8 − 1)/(2·0.75 − 1) = 1.2, clamped to 1
  close(comparisonWeight(cal, 1, 3), 0.8); // (2·0.7 − 1)/0.5
  close(comparisonWeight(cal, 1, 0), 0); // acc ½: chance
  // The truth (head) beats a fresh and a head negative: margin d = 1, exposure-aware d = (0 + 1)/2.
  const e = exposureDisc(cal, 1, 5, Int32Array.of(0, 2), [1, 3]);
  close(e.d, 0.5);
  close(e.proxy, (0.5 + 0.8) / 2);
  close(marginDisc(5, [1, 3]), 1);
  // The same truth against a head and a torso negative: (1 + 0.8)/2.
  close(exposureDisc(cal, 1, 5, Int32Array.of(2, 3), [1, 3]).d, 0.9);
  // A ranker at chance on held-out logs is never trusted.
  close(comparisonWeight({ ...cal, pooled: 0.5 }, 1, 2), 0);
});

test('exposure buckets: never exposed = 0, then quantiles of exposure, ties in one bucket', () => {
  assert.deepEqual([...exposureBuckets([0, 1, 1, 5, 10, 20], 2)], [0, 1, 1, 1, 2, 2]);
  assert.deepEqual([...exposureBuckets([3, 3, 3], 4)], [1, 1, 1]);
});

test('exposure calibration: pairwise accuracy on held-out (clicked, not clicked) pairs, smoothed toward ½', () => {
  // One row of 3 candidates: item 1 clicked (score 2), items 2 (score 1) and 0 (score 3) not.
  // Pair (1, 2): right, buckets (1, 1). Pair (1, 0): wrong, buckets (1, 0) and (0, 1).
  const cal = fitExposureCalibration(Uint8Array.of(0, 1, 1), 2, [1, 2, 0], [1, 0, 0], [2, 1, 3], 3, 2);
  close(cal.pooled, 0.5);
  close(cal.accuracy[3], (1 + 1) / (1 + 2));
  close(cal.accuracy[1], (0 + 1) / (1 + 2));
  close(cal.accuracy[2], (0 + 1) / (1 + 2));
  close(cal.accuracy[0], 0.5); // no pairs: the prior alone
  assert.deepEqual([...cal.pairs], [0, 1, 1, 1]);
});

test('gap bins: a gap falls in the bin of the number of edges at or below it', () => {
  const edges = [0.5, 1, 2];
  assert.deepEqual([0, 0.49, 0.5, 0.99, 1, 1.5, 2, 9].map((g) => gapBin(edges, g)), [0, 0, 1, 1, 2, 2, 3, 3]);
  assert.equal(gapBin([], 3), 0);
});

test('gap calibration: held-out accuracy by score gap and exposure buckets, smoothed toward ½', () => {
  // Row 1: clicked item 1 (score 3) vs items 2 (score 2.9, gap 0.1, right) and
  // 3 (score 5, gap 2, wrong). Row 2: clicked item 2 (score 4) vs item 1 (score 0, gap 4, right)
  // and item 0 (score 4.2, gap 0.2, wrong). Buckets: item 0 → 0, items 1 and 2 → 1, item 3 → 2.
  // Sorted gaps [0.1, 0.2, 2, 4]; with 2 gap bins the edge is the quantile at index 2, gap 2.
  const cal = fitGapCalibration(Uint8Array.of(0, 1, 1, 2), 3, 2, [1, 2, 3, 2, 1, 0], [1, 0, 0, 1, 0, 0], [3, 2.9, 5, 4, 0, 4.2], 3, 2);
  assert.deepEqual([...cal.gapEdges], [2]);
  close(cal.pooled, 0.5);
  const cell = (g: number, a: number, b: number) => g * 9 + a * 3 + b;
  // Small gaps (bin 0): (1,1) right once; (1,0) wrong once, counted in both orders.
  close(cal.accuracy[cell(0, 1, 1)], (1 + 1) / (1 + 2));
  close(cal.accuracy[cell(0, 1, 0)], (0 + 1) / (1 + 2));
  close(cal.accuracy[cell(0, 0, 1)], (0 + 1) / (1 + 2));
  // Large gaps (bin 1): (1,2) wrong, (1,1) right.
  close(cal.accuracy[cell(1, 1, 2)], 1 / 3);
  close(cal.accuracy[cell(1, 1, 1)], 2 / 3);
  close(cal.accuracy[cell(1, 2, 2)], 0.5); // never tested: the prior alone
  assert.equal(cal.pairs.reduce((a, b) => a + b, 0), 6); // 4 pairs, 2 of them across buckets (counted twice)
});

/** Items 0 (fresh, bucket 0), 1 and 2 (head, bucket 1); the ranker is right 0.6 of the time on small gaps (< 1), 0.9 on large ones. */
function handGapCalibration(): GapCalibration {
  const nb = 2;
  const accuracy = new Float64Array(2 * nb * nb).fill(0.5); // anything with a fresh item: chance
  accuracy[0 * 4 + 1 * 2 + 1] = 0.6;
  accuracy[1 * 4 + 1 * 2 + 1] = 0.9;
  return { numBuckets: nb, bucketOf: Uint8Array.of(0, 1, 1, 1), gapEdges: Float64Array.of(1), accuracy, pairs: new Float64Array(8), pooled: 0.75 };
}

test('calibrated: the predicted share of candidate pairs ordered right, over all pairs; a fresh item pulls it to chance', () => {
  const cal = handGapCalibration();
  // Head items 1, 2, 3 with scores 0, 2, 4: every gap ≥ 1 → each pair 0.9. The truth need not win.
  close(calibratedDisc(cal, [1, 2, 3], [0, 2, 4]).d, 0.9);
  // Scores 0, 0.5, 4: pairs (1,2) gap 0.5 → 0.6, (1,3) 0.9, (2,3) 0.9 → 2.4 / 3.
  close(calibratedDisc(cal, [1, 2, 3], [0, 0.5, 4]).d, 0.8);
  // Replace item 3 by fresh item 0 at the same score: its two comparisons fall to ½.
  const fresh = calibratedDisc(cal, [1, 2, 0], [0, 0.5, 4]);
  close(fresh.d, (0.6 + 0.5 + 0.5) / 3);
  close(fresh.proxy, fresh.d);
  // The margin test admits both: the truth (scored 4 below) never changes it.
  close(marginDisc(0, [0.5, 4]), 0);
  assert.ok(Number.isNaN(calibratedDisc(cal, [1], [0]).d));
});

test('discriminators read each sample\'s scores from the candidate grid the RL step scored', async () => {
  // B = 2 samples, C = 3 candidates each: [truth, neg, neg]; -1 = nothing.
  const cand = Int32Array.of(1, 2, 0, 3, 1, -1);
  const logits = Float32Array.of(5, 3, 1, 0, 2, Number.NaN);
  const margin = await marginDiscriminator.forBatch([], cand, 3, logits);
  close(margin(0, 1, Int32Array.of(2, 0)).d, 1);
  close(margin(1, 3, Int32Array.of(1)).d, 0);
  const exposure = await exposureDiscriminator(handCalibration()).forBatch([], cand, 3, logits);
  close(exposure(0, 1, Int32Array.of(2, 0)).d, 0.5);
  // Sample 0, candidates 1, 2, 0 scored 5, 3, 1: gaps 2, 4, 2 (all large); pairs with fresh item 0 at ½.
  const calibrated = await calibratedDiscriminator(handGapCalibration()).forBatch([], cand, 3, logits);
  close(calibrated(0, 1, Int32Array.of(2, 0)).d, (0.9 + 0.5 + 0.5) / 3);
  // Ensemble members are real rankers; with none but member 0 there is no ensemble.
  const single = await ensembleDiscriminator([], 1, 8).forBatch([], cand, 3, logits);
  assert.throws(() => single(0, 1, Int32Array.of(2)), /at least 2/);
});
