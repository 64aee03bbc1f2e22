/** Rollout rewards: sigmoid(logit) for items, reward.invalid for hallucinations, reward.hit for the truth. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { validateConfig } from '../../src/config/load.js';
import { Ranker } from '../../src/model/ranker.js';
import { Rng } from '../../src/rng.js';
import { rewards, rolloutRewards, sigmoid } from '../../src/rl/reward.js';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('rewards: sigmoid of the logit, reward.invalid for a non-item, plus reward.hit on the ground truth', async () => {
  const cfg = { invalid: -1, hit: 0.5 };
  // logit 0 -> .5; logit ln 3 -> 3/4, + hit .5 = 1.25; invalid -> -1 (even if flagged as truth); logit -2 -> 1/(1+e^2).
  const r = rewards([0, Math.log(3), 5, -2, 7], [1, 1, 0, 1, 0], [0, 1, 0, 0, 1], cfg);
  close(r[0], 0.5);
  close(r[1], 1.25);
  assert.equal(r[2], -1);
  close(r[3], 1 / (1 + Math.exp(2)));
  assert.equal(r[4], -1);
  // Probabilities instead of logits.
  const p = rewards([0.2, 0.9], [1, 1], [1, 0], cfg, 'prob');
  close(p[0], 0.7);
  close(p[1], 0.9);
  // The defaults: invalid -1, no hit bonus.
  const d = validateConfig({}).reward;
  assert.deepEqual([...rewards([0, 0], [0, 1], [0, 1], d)], [-1, 0.5]);
});

test('sigmoid is finite and exact at extreme logits', async () => {
  assert.equal(sigmoid(-1000), 0);
  assert.equal(sigmoid(1000), 1);
  close(sigmoid(1), 1 / (1 + Math.exp(-1)), 1e-15);
});

test('rolloutRewards scores B x G rollouts in one call, equal to scoring each alone', async () => {
  await initBackend('wasm');
  const ranker = Ranker.create(12, { dim: 8, hidden: 8, encoder: 'pooling', maxHistory: 4 }, new Rng(1), false);
  const cfg = { invalid: -1, hit: 0.25 };
  const histories = [Int32Array.of(1, 2, 3), Int32Array.of(), Int32Array.of(4, 5, 6, 7, 8, 9)];
  // B = 3 prompts x G = 3 rollouts, -1 = hallucinated tuple.
  const items = Int32Array.of(0, -1, 5, 11, 11, 2, -1, -1, 9);
  const targets = [5, 11, 3];
  const before = tf.memory().numTensors;
  const out = await rolloutRewards(ranker, histories, items, 3, targets, cfg, 2);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual([...out.valid], [1, 0, 1, 1, 1, 1, 0, 0, 1]);
  assert.deepEqual([...out.isGroundTruth], [0, 0, 1, 1, 1, 0, 0, 0, 0]);
  for (let b = 0; b < 3; b++) {
    for (let g = 0; g < 3; g++) {
      const i = b * 3 + g;
      if (items[i] < 0) {
        assert.equal(out.rewards[i], -1);
        assert.ok(Number.isNaN(out.logits[i]));
        continue;
      }
      const single = (await ranker.scoreItems([histories[b]], Int32Array.of(items[i]), 1))[0];
      close(out.logits[i], single, 1e-5);
      close(out.rewards[i], sigmoid(single) + (items[i] === targets[b] ? 0.25 : 0), 1e-5);
    }
  }
  ranker.dispose();
});
