import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.js';
import { Rng } from '../../src/rng.js';
import { difficultyStatistics, discriminability, gateDiagnostics, gates, inBatchNegatives, negativeSet, type GateSample } from '../../src/rl/gates.js';

// Hand-built rollouts, G = 4. Ground truth item 7 with log-prob -2.
const s: GateSample = {
  gtItem: 7,
  rolloutItems: Int32Array.from([7, 3, -1, 3]),
  rolloutLogProbs: Float32Array.from([-2, -1, -3, -1]),
  gtLogProb: -2,
  meanEntropy: 1.25,
};

test('each difficulty statistic on hand-built rollouts', () => {
  // gtRank: rollouts strictly above -2: the two item-3 rollouts (-1) -> q = 2/4 = 0.5.
  assert.equal(difficultyStatistics.gtRank.value(s), 0.5);
  assert.equal(difficultyStatistics.gtRank.hard(0.5, 0.5), true);
  assert.equal(difficultyStatistics.gtRank.hard(0.25, 0.5), false);
  // gtProb: exp(-2) = 0.1353 < 0.2 -> hard.
  assert.ok(Math.abs(difficultyStatistics.gtProb.value(s) - Math.exp(-2)) < 1e-12);
  assert.equal(difficultyStatistics.gtProb.hard(Math.exp(-2), 0.2), true);
  // hitRate: one of four rollouts is item 7 -> 0.25 < 0.5 -> hard.
  assert.equal(difficultyStatistics.hitRate.value(s), 0.25);
  assert.equal(difficultyStatistics.hitRate.hard(0.25, 0.5), true);
  // entropy: 1.25 >= 1 -> hard; >= 2 not.
  assert.equal(difficultyStatistics.entropy.hard(1.25, 1), true);
  assert.equal(difficultyStatistics.entropy.hard(1.25, 2), false);
});

test('negatives: distinct valid rollouts other than the ground truth, then in-batch, deduplicated', () => {
  assert.deepEqual(Array.from(negativeSet(s, Int32Array.from([3, 9, 7, 11]))), [3, 9, 11]);
});

test('d_i with ties counting one half', () => {
  // R(y) = 0.6 against [0.2, 0.6, 0.9, 0.5]: wins 1 + 0.5 + 0 + 1 = 2.5 of 4 = 0.625.
  assert.equal(discriminability(0.6, [0.2, 0.6, 0.9, 0.5]), 0.625);
  assert.ok(Number.isNaN(discriminability(0.6, [])));
});

test('in-batch negatives never include the sample\'s own item', () => {
  const gt = Int32Array.from([5, 5, 8, 9, 5, 10]);
  const negs = inBatchNegatives(gt, 5, new Rng(3));
  negs.forEach((n, i) => {
    assert.ok(!n.includes(gt[i]), `sample ${i} got its own item`);
    assert.equal(new Set(n).size, n.length);
  });
  // Sample 0 (item 5) can only draw 8, 9, 10.
  assert.deepEqual([...negs[0]].sort((a, b) => a - b), [8, 9, 10]);
  // M caps the count.
  assert.ok(inBatchNegatives(gt, 2, new Rng(3)).every((n) => n.length <= 2));
});

test('every gate\'s decision on hand-built diagnostics', () => {
  const cfg = validateConfig({}).gate; // gtRank, τ = 0.5; ρ = 0.8
  // Four samples: (hard, disc) = (1,1), (1,0), (0,1), (0,0).
  const mk = (logProbs: number[]): GateSample => ({ ...s, rolloutLogProbs: Float32Array.from(logProbs), gtLogProb: -2 });
  const samples = [mk([-1, -1, -3, -3]), mk([-1, -1, -1, -1]), mk([-3, -3, -3, -3]), mk([-3, -1, -3, -3])];
  const d = gateDiagnostics(samples, Float64Array.from([0.9, 0.5, 0.8, Number.NaN]), cfg);
  assert.deepEqual(Array.from(d.hard), [1, 1, 0, 0]);
  assert.deepEqual(Array.from(d.discriminable), [1, 0, 1, 0]);
  const ctx = { rng: new Rng(1), randomP: 0.5 };
  assert.deepEqual(Array.from(gates.adagrpo.admit(d, ctx)), [1, 0, 0, 0]);
  assert.deepEqual(Array.from(gates['hard-only'].admit(d, ctx)), [1, 1, 0, 0]);
  assert.deepEqual(Array.from(gates['disc-only'].admit(d, ctx)), [1, 0, 1, 0]);
  assert.deepEqual(Array.from(gates.nll.admit(d, ctx)), [0, 0, 0, 0]);
  assert.deepEqual(Array.from(gates['grpo+nll'].admit(d, ctx)), [1, 1, 1, 1]);
  assert.equal(gates.grpo.wNll, 0);
  assert.equal(gates.nll.wNll, 1);
  // random-gate admits at rate p (10,000 draws).
  let n = 0;
  const big = gateDiagnostics(Array(10000).fill(samples[0]), new Float64Array(10000), cfg);
  for (const c of gates['random-gate'].admit(big, { rng: new Rng(2), randomP: 0.12 })) n += c;
  assert.ok(Math.abs(n / 10000 - 0.12) < 0.01, `rate ${n / 10000}`);
});
