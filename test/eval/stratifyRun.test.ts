/** The per-sample record of stratify: candidates, RM order, the gate's d_i and the ranker's true reliability. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { validateConfig } from '../../src/config/load.js';
import type { SyntheticTruth } from '../../src/data/types.js';
import { evaluatePolicy } from '../../src/eval/evaluate.js';
import { candidateRow, sampleRecord } from '../../src/eval/stratifyRun.js';
import { Policy, sidLayout } from '../../src/model/policy.js';
import { Rng } from '../../src/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { prepareInputs } from '../../src/data/inputs.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test('one sample: beam | truth | in-batch candidates, RM order, d_i over distinct valid negatives, reliability', async () => {
  // Beam [7, invalid, 3, 9] for truth 3, in-batch negatives [5, 7] (M = 2): C = 4 + 1 + 2.
  const beam = Int32Array.from([7, -1, 3, 9]);
  const inBatch = Int32Array.from([5, 7]);
  const cand = candidateRow(beam, 3, inBatch, 2);
  assert.deepEqual(Array.from(cand), [7, -1, 3, 9, 3, 5, 7]);
  // Ranker logits per candidate: 7 → 2, 3 → 1, 9 → 1, 5 → 0 (NaN for the invalid slot).
  const logits = Float32Array.from([2, NaN, 1, 1, 1, 0, 2]);
  // Utility = user·item with dim 1, user vector 1, a = 1, b = c = 0: item k's utility is its vector.
  const itemVectors = new Float32Array(10);
  itemVectors[3] = 0.5;
  itemVectors[7] = 1.0;
  itemVectors[9] = 0.2;
  itemVectors[5] = 0.0;
  const truth = {
    dim: 1,
    itemVectors,
    userVectors: Float32Array.from([1]),
    itemPopularity: new Float64Array(10).fill(0.1),
    itemCategory: new Int32Array(10),
    itemFresh: new Uint8Array(10),
    a: 1,
    b: 0,
    c: 0,
    impressions: [],
  } as SyntheticTruth;
  const s = sampleRecord({ user: 0, history: Int32Array.from([1, 2]), target: 3 }, beam, inBatch, cand, logits, truth, -1.5);
  // RM order: 7 (2), then 3 and 9 tied at 1 in beam order, the invalid slot last.
  assert.deepEqual(Array.from(s.rm), [7, 3, 9, -1]);
  assert.deepEqual(Array.from(s.llm), [7, -1, 3, 9]);
  // Negatives {7, 9, 5} (7 once): truth 1 vs 2 → 0, vs 1 → ½ (tie), vs 0 → 1; d = 1.5 / 3.
  close(s.disc, 0.5);
  // Pairs of [3, 7, 9, 5] with scores [1, 2, 1, 0] and utilities [.5, 1, .2, 0]: all six agree except
  // (3, 9), a score tie worth ½: 5.5 / 6.
  close(s.reliability, 5.5 / 6);
  assert.ok(Number.isNaN(sampleRecord({ user: 0, history: new Int32Array(0), target: 3 }, beam, inBatch, cand, logits, null, -1.5).reliability));

  // No negatives at all (beam = the truth and invalid tuples, M = 0): d undefined, as in the gate.
  const lone = Int32Array.from([3, -1]);
  const c0 = candidateRow(lone, 3, new Int32Array(0), 0);
  assert.ok(Number.isNaN(sampleRecord({ user: 0, history: new Int32Array(0), target: 3 }, lone, new Int32Array(0), c0, Float32Array.from([1, NaN, 1]), null, -1.5).disc));
});

test('log pi(truth | x) comes from the beam search: equal to the beam score where the beam holds the truth, in batches with a short last one, and leaves no tensors', async () => {
  const runsDir = tmpDir();
  const config = validateConfig({
    backend: 'cpu',
    runsDir,
    data: { processedDir: path.join(runsDir, 'processed'), synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 4, maxSeqLen: 9 } },
    sid: { levels: 2, codebookSize: 8, embedding: 'latent' },
    policy: { layers: 1, dim: 16, heads: 2, maxHistory: 5 },
    eval: { beam: 48, batchSize: 7 },
  });
  const inputs = await prepareInputs(config, () => {});
  const policy = Policy.create(config.policy, sidLayout(inputs.sids.codebookSizes), new Rng(3));
  try {
    const before = tf.memory().numTensors;
    // 30 users in batches of 7: the last batch is short.
    const r = (await evaluatePolicy(policy, inputs, config, { split: 'valid', maxUsers: 0, keepRankings: true, targetLogProbs: true })).rankings!;
    assert.equal(tf.memory().numTensors, before);
    assert.equal(r.length, 30);
    let found = 0;
    r.forEach((u, i) => {
      assert.ok(u.targetLogProb! < 0 && Number.isFinite(u.targetLogProb), `sample ${i}: ${u.targetLogProb}`);
      const j = Array.from(u.items).indexOf(u.target);
      if (j < 0) return;
      found++;
      assert.ok(Math.abs(u.scores[j] - u.targetLogProb!) < 1e-4, `sample ${i}, beam ${j}: ${u.scores[j]} vs ${u.targetLogProb}`);
    });
    assert.ok(found >= 3, `only ${found} truths in the beams`);
    // Without the option nothing extra is computed.
    assert.equal((await evaluatePolicy(policy, inputs, config, { split: 'valid', maxUsers: 3, keepRankings: true })).rankings![0].targetLogProb, undefined);
  } finally {
    policy.dispose();
  }
});
