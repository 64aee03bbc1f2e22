import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { AdamW, learningRate, loadOptimizerState } from '../../src/train/optimizer.js';
import { CHECKPOINT_FORMAT, loadCheckpoint, resolveCheckpoint, saveCheckpoint, setPointer } from '../../src/model/checkpoint.js';
import { UserError } from '../../src/errors.js';
import { tmpDir } from '../helpers/tmp.js';

test('one AdamW step matches the hand-computed update', async () => {
  await initBackend('auto');
  const before = tf.memory().numTensors;
  // p = [1, -2], g = [0.5, 4], lr = 0.1, wd = 0.1, beta1 0.9, beta2 0.999, eps 1e-8.
  // Step 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2, update = g/|g| = sign(g) = [1, 1].
  // p <- p - lr (update + wd p) = [1 - 0.1(1 + 0.1), -2 - 0.1(1 - 0.2)] = [0.89, -2.08].
  const p = tf.tidy(() => tf.variable(tf.tensor1d([1, -2]), true, 'w'));
  const opt = new AdamW(new Map([['w', p]]), { weightDecay: 0.1, gradClip: 0 });
  const g = tf.tensor1d([0.5, 4]);
  const stats = await opt.step({ w: g }, 0.1);
  const got = Array.from(p.dataSync());
  assert.ok(Math.abs(got[0] - 0.89) < 1e-6 && Math.abs(got[1] + 2.08) < 1e-6, `got ${got}`);
  assert.ok(Math.abs(stats.gradNorm - Math.hypot(0.5, 4)) < 1e-5);
  assert.equal(stats.clipped, false);
  g.dispose();
  opt.dispose();
  p.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('gradient clipping scales by clip/norm; noDecay exempts a variable', async () => {
  await initBackend('auto');
  // g = [3, 4], norm 5, clip 1 -> g' = [0.6, 0.8]; Adam's first step is sign(g') anyway, so check
  // the moment: m = 0.1 g' = [0.06, 0.08].
  const p = tf.variable(tf.tensor1d([0, 0]), true, 'b');
  const opt = new AdamW(new Map([['b', p]]), { weightDecay: 0.5, gradClip: 1, noDecay: (n) => n === 'b' });
  const g = tf.tensor1d([3, 4]);
  const stats = await opt.step({ b: g }, 0.01);
  assert.equal(stats.clipped, true);
  const m = Array.from(opt.stateTensors().get('adam_m/b')!.dataSync());
  assert.ok(Math.abs(m[0] - 0.06) < 1e-6 && Math.abs(m[1] - 0.08) < 1e-6, `m=${m}`);
  // No decay: p = 0 - 0.01 * 1 = -0.01 for both.
  assert.deepEqual(Array.from(p.dataSync()).map((x) => Math.round(x * 1e6) / 1e6), [-0.01, -0.01]);
  g.dispose();
  opt.dispose();
  p.dispose();
});

test('learning rate: linear warmup then cosine to lr*minLrRatio', async () => {
  const s = { lr: 1, warmupSteps: 10, minLrRatio: 0.1 };
  assert.equal(learningRate(0, s, 110), 0.1);
  assert.equal(learningRate(9, s, 110), 1);
  assert.equal(learningRate(10, s, 110), 1);
  // Halfway through the decay (step 60 of 10..110): 0.1 + 0.45 (1 + cos(pi/2)) = 0.55.
  assert.ok(Math.abs(learningRate(60, s, 110) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(110, s, 110) - 0.1) < 1e-12);
});

test('a non-finite gradient changes nothing: not the weights, not the moments, not the step count', async () => {
  await initBackend('auto');
  const p = tf.tidy(() => tf.variable(tf.tensor1d([1, -2]), true, 'w'));
  const opt = new AdamW(new Map([['w', p]]), { weightDecay: 0.1, gradClip: 1 });
  const g = tf.tensor1d([0.5, 4]);
  await opt.step({ w: g }, 0.1);
  const weights = Array.from(p.dataSync());
  const moments = [...opt.stateTensors().values()].map((t) => Array.from(t.dataSync()));
  const bad = tf.tensor1d([Number.NaN, 1]);
  const stats = await opt.step({ w: bad }, 0.1);
  assert.ok(Number.isNaN(stats.gradNorm));
  assert.deepEqual(Array.from(p.dataSync()), weights);
  assert.deepEqual([...opt.stateTensors().values()].map((t) => Array.from(t.dataSync())), moments);
  assert.equal(opt.t, 1);
  tf.dispose([g, bad]);
  opt.dispose();
  p.dispose();
});

test('loadOptimizerState carries moments and step count over: the next update follows the old gradient scale', async () => {
  await initBackend('auto');
  const before = tf.memory().numTensors;
  // Stage A: one step with g = [0.5, 4] -> m = 0.1 g = [0.05, 0.4], v = 0.001 g^2 = [0.00025, 0.016], t = 1.
  const a = tf.tidy(() => tf.variable(tf.tensor1d([1, -2]), true));
  const optA = new AdamW(new Map([['w', a]]), { weightDecay: 0, gradClip: 0 });
  const g1 = tf.tensor1d([0.5, 4]);
  await optA.step({ w: g1 }, 0.1);
  const dir = tmpDir();
  const state = { formatVersion: CHECKPOINT_FORMAT, stage: 'sft', step: 1, rng: [1, 2, 3, 4] as [number, number, number, number], configHash: 'h', bestMetric: 0, bestStep: 1, optimizerStep: optA.t };
  await saveCheckpoint(dir, new Map<string, tf.Tensor>([['w', a], ...optA.stateTensors()]), state);
  setPointer(dir, 'best', 1, 0);
  const ck = loadCheckpoint(resolveCheckpoint(dir, 'best'));

  // Stage B from p = [1, -2] with g = [-0.5, 4], lr 0.1. Carried: m = 0.9 m + 0.1 g = [-0.005, 0.76],
  // v = 0.999 v + 0.001 g^2 = [0.00049975, 0.031984], t = 2: mhat = m / 0.19 = [-0.0263158, 4],
  // vhat = v / 0.001999 = [0.25, 16], update = [-0.0526316, 1], p = [1.00526316, -2.1].
  // Fresh moments: update = sign(g) = [-1, 1], p = [1.1, -2.1].
  const g2 = tf.tensor1d([-0.5, 4]);
  const after = async (carry: boolean) => {
    const b = tf.tidy(() => tf.variable(tf.tensor1d([1, -2]), true));
    const params = new Map([['w', b]]);
    const optB = new AdamW(params, { weightDecay: 0, gradClip: 0 });
    if (carry) {
      assert.equal(loadOptimizerState(ck, optB), 1);
      const [m, v] = [...optB.stateTensors().values()].map((t) => Array.from(t.dataSync()));
      assert.ok(Math.abs(m[0] - 0.05) < 1e-7 && Math.abs(m[1] - 0.4) < 1e-7, `m ${m}`);
      assert.ok(Math.abs(v[0] - 0.00025) < 1e-9 && Math.abs(v[1] - 0.016) < 1e-8, `v ${v}`);
    }
    await optB.step({ w: g2 }, 0.1);
    const got = Array.from(b.dataSync());
    optB.dispose();
    b.dispose();
    return got;
  };
  const carried = await after(true);
  const fresh = await after(false);
  assert.ok(Math.abs(carried[0] - 1.00526316) < 1e-6 && Math.abs(carried[1] + 2.1) < 1e-6, `carried ${carried}`);
  assert.ok(Math.abs(fresh[0] - 1.1) < 1e-6 && Math.abs(fresh[1] + 2.1) < 1e-6, `fresh ${fresh}`);

  // A parameter the checkpoint has no moments for: a UserError naming it, nothing leaked.
  const other = tf.tidy(() => tf.variable(tf.tensor1d([0, 0]), true));
  const optC = new AdamW(new Map([['u', other]]), { weightDecay: 0, gradClip: 0 });
  assert.throws(() => loadOptimizerState(ck, optC), (e: unknown) => e instanceof UserError && /no optimizer moment "m" for "u"/.test(e.message));
  tf.dispose([g1, g2, a, other, ...ck.tensors.values()]);
  optA.dispose();
  optC.dispose();
  assert.equal(tf.memory().numTensors, before);
});
