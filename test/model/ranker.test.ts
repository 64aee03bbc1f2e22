/**
 * The ranker: history packing, batched B x G scoring equal to one-at-a-time scoring, the wasm
 * embedding lookup's gradient, shape checks on loading weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { UserError } from '../../src/errors.js';
import { lookupRows, packHistories, Ranker, rankerParamKey, type RankerArch } from '../../src/model/ranker.js';
import { Rng } from '../../src/rng.js';

const I = 15;
const histories = [
  Int32Array.of(3, 1, 4, 1, 5, 9, 2), // longer than maxHistory: only the last 5 count
  Int32Array.of(6),
  Int32Array.of(), // empty: attends to the pad row
  Int32Array.of(14, 0, 7),
];

function allCandidates(B: number, G: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: B * G }, () => rng.int(I));
}

test('packHistories right-aligns the last H items and pads on the left', async () => {
  // H = 3, pad = 99: [3,1,4,1,5,9,2] -> [5,9,2]; [6] -> [99,99,6]; [] -> pads.
  assert.deepEqual([...packHistories(histories, 0, 3, 3, 99)], [5, 9, 2, 99, 99, 6, 99, 99, 99]);
  assert.deepEqual([...packHistories(histories, 3, 4, 3, 99)], [14, 0, 7]);
});

for (const encoder of ['pooling', 'attention'] as const) {
  test(`${encoder}: scoring B x G candidates in one batch equals scoring them one at a time`, async () => {
    await initBackend('wasm');
    const arch: RankerArch = { dim: 8, hidden: 12, encoder, maxHistory: 5 };
    const ranker = Ranker.create(I, arch, new Rng(7));
    const G = 6;
    const items = allCandidates(histories.length, G, 11);
    const before = tf.memory().numTensors;
    const batched = await ranker.scoreItems(histories, items, G);
    // Chunking over histories gives the same numbers.
    const chunked = await ranker.scoreItems(histories, items, G, 3);
    for (let b = 0; b < histories.length; b++) {
      for (let g = 0; g < G; g++) {
        const one = (await ranker.scoreItems([histories[b]], Int32Array.of(items[b * G + g]), 1))[0];
        assert.ok(Math.abs(batched[b * G + g] - one) < 1e-5, `${encoder} b=${b} g=${g}: ${batched[b * G + g]} vs ${one}`);
        assert.ok(Math.abs(chunked[b * G + g] - one) < 1e-5);
      }
    }
    assert.equal(tf.memory().numTensors, before, 'scoring leaks no tensors');
    // Only the last maxHistory items matter.
    const cut = await ranker.scoreItems([histories[0].subarray(2)], items.subarray(0, G), G);
    for (let g = 0; g < G; g++) assert.ok(Math.abs(cut[g] - batched[g]) < 1e-6);
    ranker.dispose();
  });
}

test('scoreItems marks invalid candidates (-1) as NaN without disturbing the others', async () => {
  await initBackend('wasm');
  const ranker = Ranker.create(I, { dim: 8, hidden: 8, encoder: 'pooling', maxHistory: 4 }, new Rng(2));
  const s = await ranker.scoreItems([histories[1]], Int32Array.of(3, -1, 4), 3);
  const ref = await ranker.scoreItems([histories[1]], Int32Array.of(3, 0, 4), 3);
  assert.ok(Number.isNaN(s[1]));
  assert.equal(s[0], ref[0]);
  assert.equal(s[2], ref[2]);
  ranker.dispose();
});

test('lookupRows has the value and the gradient of tf.gather, repeated indices included', async () => {
  await initBackend('wasm');
  const table = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
  const idx = tf.tensor1d([2, 0, 2, 3], 'int32');
  const w = tf.tensor2d([1, -1, 2, 0.5, 3, 1, -2, 4], [4, 2]);
  const [gFast] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(lookupRows(t as tf.Tensor2D, idx), w)))([table]);
  const [gRef] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, idx), w)))([table]);
  // Row 2 is looked up twice: its gradient is w[0] + w[2] = [1+3, -1+1]; row 1 never: 0.
  assert.deepEqual([...gFast.dataSync()], [2, 0.5, 0, 0, 4, 0, -2, 4]);
  assert.deepEqual([...gFast.dataSync()], [...gRef.dataSync()]);
  assert.deepEqual([...lookupRows(table, idx).dataSync()], [5, 6, 1, 2, 5, 6, 7, 8]);
  tf.dispose([table, idx, w, gFast, gRef]);
});

test('fromTensors refuses weights of another shape, naming the weight', async () => {
  await initBackend('wasm');
  const r = Ranker.create(I, { dim: 8, hidden: 8, encoder: 'pooling', maxHistory: 4 }, new Rng(1));
  assert.throws(
    () => Ranker.fromTensors(I + 1, r.arch, r.params as Map<string, tf.Tensor>),
    (e: unknown) => e instanceof UserError && /itemEmb/.test(e.message),
  );
  const missing = new Map([...r.params].filter(([k]) => k !== rankerParamKey('w2'))) as Map<string, tf.Tensor>;
  assert.throws(() => Ranker.fromTensors(I, r.arch, missing), /lack "w2"/);
  const frozen = Ranker.fromTensors(I, r.arch, r.params as Map<string, tf.Tensor>, false);
  assert.ok([...frozen.params.values()].every((v) => !v.trainable));
  frozen.dispose();
  r.dispose();
});

test('the cpu backend gives the same scores as wasm', async () => {
  await initBackend('wasm');
  const arch: RankerArch = { dim: 8, hidden: 8, encoder: 'attention', maxHistory: 5 };
  const r = Ranker.create(I, arch, new Rng(4));
  const items = allCandidates(histories.length, 3, 5);
  const onWasm = await r.scoreItems(histories, items, 3);
  await tf.setBackend('cpu');
  try {
    const onCpu = await r.scoreItems(histories, items, 3);
    for (let i = 0; i < onWasm.length; i++) assert.ok(Math.abs(onWasm[i] - onCpu[i]) < 1e-5);
  } finally {
    await tf.setBackend('wasm');
    r.dispose();
  }
});
