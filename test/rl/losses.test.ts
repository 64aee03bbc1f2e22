import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { grpoTerms, klK3, nllTerms, totalLoss } from '../../src/rl/losses.js';

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test('clipped surrogate and k3 KL on hand-computed numbers', async () => {
  await initBackend('auto');
  const before = tf.memory().numTensors;
  // B=1, G=2, L=1, ε=0.2.
  // g=0: ratio = exp(0.5) = 1.648721, A = +1 -> min(1.648721, 1.2) = 1.2 (clipped)
  // g=1: ratio = exp(-0.5) = 0.606531, A = -1 -> min(-0.606531, -0.8) = -0.8 (clipped)
  // GRPO = -(1.2 - 0.8)/2 = -0.2; clipFrac = 2/2 = 1.
  // k3 with ref = old: d = ref - logp = [-0.5, 0.5]: exp(d) - d - 1 = [0.106531, 0.148721], mean 0.127626.
  // With β = 0.1: GRPO = -0.2 + 0.0127626 = -0.1872374.
  const out = tf.tidy(() => {
    const logProbs = tf.tensor3d([[[-1.0], [-2.0]]]);
    const oldLogProbs = tf.tensor3d([[[-1.5], [-1.5]]]);
    const r = grpoTerms({ logProbs, oldLogProbs, refLogProbs: oldLogProbs, advantages: tf.tensor2d([[1, -1]]), epsilon: 0.2, beta: 0.1 });
    return [r.perSample, r.diagnostics.clipFrac, r.diagnostics.kl].map((t) => tf.keep(t));
  });
  close(out[0].dataSync()[0], -0.1872374);
  close(out[1].dataSync()[0], 1);
  close(out[2].dataSync()[0], 0.127626);
  tf.dispose(out);
  // Inside the clip range nothing is clipped: ratio = exp(0.1) = 1.105171, A = 2 -> -(2.210342)/1.
  const inside = tf.tidy(() =>
    grpoTerms({ logProbs: tf.tensor3d([[[0.1]]]), oldLogProbs: tf.tensor3d([[[0]]]), refLogProbs: null, advantages: tf.tensor2d([[2]]), epsilon: 0.2, beta: 0 }).perSample.dataSync()[0],
  );
  close(inside, -2.210342);
  const k3 = tf.tidy(() => Array.from(klK3(tf.tensor1d([0, -1]), tf.tensor1d([0, -1])).dataSync()));
  assert.deepEqual(k3, [0, 0]);
  assert.equal(tf.memory().numTensors, before);
});

test('NLL per sample and the gated total normalised by B', async () => {
  await initBackend('auto');
  // NLL_i = -(1/L) Σ_t logp: sample 0 = (1 + 3)/2 = 2, sample 1 = (0.5 + 0.5)/2 = 0.5.
  // Loss = (1/2)[1*2 + 0.5*1*(-0.4)] + (1/2)[1*0.5 + 0.5*0*(9)] = (1.8 + 0.5)/2 = 1.15.
  const loss = tf.tidy(() => {
    const nll = nllTerms(tf.tensor2d([[-1, -3], [-0.5, -0.5]])).perSample;
    assert.deepEqual(Array.from(nll.dataSync()), [2, 0.5]);
    return totalLoss({ nll, grpo: tf.tensor1d([-0.4, 9]), gate: Float32Array.from([1, 0]), wNll: 1, lambda: 0.5 }).dataSync()[0];
  });
  close(loss, 1.15);
});

test('at ratio 1 the GRPO gradient equals REINFORCE with the group-mean baseline', async () => {
  await initBackend('auto');
  // A one-token policy over 3 actions, logits θ. Two rollouts: actions 0 and 2 with advantages A.
  // At ratio 1 (old = current, constant), ∇GRPO = -(1/G) Σ_g A_g ∇ log softmax(θ)[o_g].
  const theta = tf.tensor1d([0.2, -0.1, 0.4]);
  const actions = [0, 2];
  const adv = [0.7, -0.7];
  const grpoGrad = tf.grad((th: tf.Tensor) => {
    const lp = tf.logSoftmax(th); // [3]
    const logProbs = tf.reshape(tf.gather(lp, tf.tensor1d(actions, 'int32')), [1, 2, 1]) as tf.Tensor3D;
    const old = tf.tensor3d(Array.from(logProbs.dataSync()), [1, 2, 1]);
    return tf.sum(grpoTerms({ logProbs, oldLogProbs: old, refLogProbs: null, advantages: tf.tensor2d([adv]), epsilon: 0.2, beta: 0 }).perSample);
  })(theta);
  // REINFORCE by hand: ∇ log softmax[a] = e_a - p.
  const p = Array.from(tf.softmax(theta).dataSync());
  const expected = [0, 1, 2].map((k) => -(1 / 2) * actions.reduce((s, a, g) => s + adv[g] * ((k === a ? 1 : 0) - p[k]), 0));
  Array.from(grpoGrad.dataSync()).forEach((v, k) => close(v, expected[k], 1e-6));
});
