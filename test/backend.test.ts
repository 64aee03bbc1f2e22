import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend.js';

test('auto picks a working backend and says why earlier ones were skipped', async () => {
  const info = await initBackend('auto');
  assert.ok(['tensorflow', 'webgpu', 'wasm', 'cpu'].includes(info.name));
  if (info.name !== 'tensorflow') {
    assert.ok(info.skipped.some((s) => s.candidate.startsWith('tensorflow')));
    assert.ok(info.skipped.every((s) => s.reason.length > 0));
  }
  if (info.name === 'webgpu') assert.equal(info.adapter?.software, false, 'auto never picks a software adapter');
  if (info.name === 'wasm' || info.name === 'cpu') {
    // On a machine with lavapipe only (CI), webgpu is skipped for being software.
    const webgpu = info.skipped.find((s) => s.candidate === 'webgpu');
    assert.ok(webgpu, 'webgpu was tried');
  }
});

test('the gradient of gather works (wasm lacks UnsortedSegmentSum) and matches hand values', async () => {
  await initBackend('auto');
  const before = tf.memory().numTensors;
  // d/dE sum(gather(E, [1, 1, 3])) = count of each row index: row1 = 2, row3 = 1, others 0.
  const g = tf.tidy(() => {
    const e = tf.ones([4, 2]);
    return tf.grad((x: tf.Tensor) => tf.sum(tf.gather(x, tf.tensor1d([1, 1, 3], 'int32'))))(e);
  });
  assert.deepEqual(Array.from(g.dataSync()), [0, 0, 2, 2, 0, 0, 1, 1]);
  g.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('the explicit-transpose matMul gradient matches hand values for every flag combination', async () => {
  await initBackend('auto');
  // f = sum(op(A) op(B)), A = [[1,2],[3,4]], B = [[5,6],[7,8]]. With no transposes
  // dF/dA = 1 B^T: every row is the row sums of B = [11, 15]; dF/dB = A^T 1: row i = column sum i of A
  // = [4, 6] repeated across columns. The other cases follow by transposing A and/or B.
  const expected: Record<string, [number[], number[]]> = {
    'false,false': [[11, 15, 11, 15], [4, 4, 6, 6]],
    'false,true': [[12, 14, 12, 14], [4, 6, 4, 6]],
    'true,false': [[11, 11, 15, 15], [3, 3, 7, 7]],
    'true,true': [[12, 12, 14, 14], [3, 7, 3, 7]],
  };
  const a = tf.tensor2d([[1, 2], [3, 4]]);
  const b = tf.tensor2d([[5, 6], [7, 8]]);
  const before = tf.memory().numTensors;
  for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb)))([a, b]);
    assert.deepEqual([Array.from(ga.dataSync()), Array.from(gb.dataSync())], expected[`${ta},${tb}`], `ta=${ta} tb=${tb}`);
    tf.dispose([ga, gb]);
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([a, b]);
});
