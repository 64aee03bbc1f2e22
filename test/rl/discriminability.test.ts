/** The gate's discriminability estimators (docs/METHOD.md 2.5) on hand-built cases, numbers by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import {
  comparisonWeight,
  ensembleDisc,
  ensembleDiscriminator,
  exposureBuckets,
  exposureDisc,
  exposureDiscriminator,
  fitExposureCalibration,
  marginDisc,
  marginDiscriminator,
  type ExposureCalibration,
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

test('discriminators read each sample\'s scores from the candidate grid the RL step scored', async () => {
  // B = 2 samples, C = 3 candidates each: [truth, neg, neg]; -1 = nothing.
  const cand = Int32Array.of(1, 2, 0, 3, 1, -1);
  const logits = Float32Array.of(5, 3, 1, 0, 2, Number.NaN);
  const margin = await marginDiscriminator.forBatch([], cand, 3, logits);
  close(margin(0, 1, Int32Array.of(2, 0)).d, 1);
  close(margin(1, 3, Int32Array.of(1)).d, 0);
  const exposure = await exposureDiscriminator(handCalibration()).forBatch([], cand, 3, logits);
  close(exposure(0, 1, Int32Array.of(2, 0)).d, 0.5);
  // Ensemble members are real rankers; with none but member 0 there is no ensemble.
  const single = await ensembleDiscriminator([], 1, 8).forBatch([], cand, 3, logits);
  assert.throws(() => single(0, 1, Int32Array.of(2)), /at least 2/);
});
