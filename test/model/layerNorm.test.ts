/**
 * layerNorm's closed-form gradient (src/model/layers.ts; docs/PERFORMANCE.md, "Kernels over the
 * wasm heap"): the forward is the same ops as before, so its values are the same bits; the
 * gradient is the textbook closed form instead of tfjs's autodiff of the forward, which rounds
 * differently.
 *
 * - Tolerance against autodiff (setClosedFormLayerNormGrad(false)): every element of dx within
 *   1e-6 of dx's largest magnitude (measured ~1e-7), dg and db within 1e-6 relative, on wasm and
 *   on cpu; four SFT AdamW steps' losses and gradient norms within 1e-5 relative.
 * - Nothing leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { layerNorm, setClosedFormLayerNormGrad } from '../../src/model/layers.js';
import { sftSteps } from '../helpers/sftSteps.js';

/** Largest |x - y| over the largest |y|. */
function relToMax(x: Float32Array, y: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < y.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    m = Math.max(m, Math.abs(y[i]));
  }
  return d / m;
}

/** The forward's values and the gradients of sum(layerNorm(x, g, b) * w) for x, g and b. */
function forwardAndGrads(closedForm: boolean, x: tf.Variable, g: tf.Variable, b: tf.Variable, w: tf.Tensor): Float32Array[] {
  const was = setClosedFormLayerNormGrad(closedForm);
  try {
    return tf.tidy(() => {
      const y = layerNorm(x, g, b).dataSync() as Float32Array;
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layerNorm(x, g, b), w)) as tf.Scalar, [x, g, b]);
      return [y, ...[x, g, b].map((v) => grads[v.name].dataSync() as Float32Array)];
    });
  } finally {
    setClosedFormLayerNormGrad(was);
  }
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`${backend}: the closed-form gradient is within 1e-6 of autodiff, the forward the same bits`, async () => {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    const x = tf.tidy(() => tf.variable(tf.randomNormal([3, 50, 128], 0.3, 2, 'float32', 1), true, `ln-x-${backend}`));
    const g = tf.tidy(() => tf.variable(tf.randomNormal([128], 1, 0.2, 'float32', 2), true, `ln-g-${backend}`));
    const b = tf.tidy(() => tf.variable(tf.randomNormal([128], 0, 0.2, 'float32', 3), true, `ln-b-${backend}`));
    const w = tf.randomNormal([3, 50, 128], 0, 1, 'float32', 4);
    const [y1, dx1, dg1, db1] = forwardAndGrads(true, x, g, b, w);
    const [y0, dx0, dg0, db0] = forwardAndGrads(false, x, g, b, w);
    assert.deepEqual(y1, y0);
    const dxRel = relToMax(dx1, dx0);
    assert.ok(dxRel <= 1e-6, `dx: ${dxRel}`);
    assert.ok(dxRel > 0, 'the closed form rounds differently from autodiff (it ran)');
    assert.ok(relToMax(dg1, dg0) <= 1e-6, 'dg');
    assert.ok(relToMax(db1, db0) <= 1e-6, 'db');
    tf.dispose([x, g, b, w]);
    assert.equal(tf.memory().numTensors, before);
  });
}

test('four SFT AdamW steps on wasm: losses and gradient norms within 1e-5 relative of autodiff', async () => {
  await initBackend('wasm');
  const run = async (closedForm: boolean) => {
    const was = setClosedFormLayerNormGrad(closedForm);
    try {
      return (await sftSteps()).stats;
    } finally {
      setClosedFormLayerNormGrad(was);
    }
  };
  const before = tf.memory().numTensors;
  const autodiff = await run(false);
  const closed = await run(true);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(closed[0].loss, autodiff[0].loss, 'the first loss comes before any gradient: the same bits');
  let worst = 0;
  autodiff.forEach((o, i) => {
    for (const k of ['loss', 'gradNorm'] as const) {
      const rel = Math.abs(closed[i][k] - o[k]) / Math.abs(o[k]);
      worst = Math.max(worst, rel);
      assert.ok(rel <= 1e-5, `step ${i + 1} ${k}: ${closed[i][k]} vs ${o[k]}`);
    }
  });
  process.stdout.write(`# largest relative difference, closed-form vs autodiff layerNorm gradient: ${worst.toExponential(2)}\n`);
});
