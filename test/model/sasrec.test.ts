/** The SASRec baseline: its batches and padding, its causal mask, and its catalog scores on a hand-set model. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { Sasrec, packHistory, type SasrecArch } from '../../src/model/sasrec.js';
import { Rng } from '../../src/rng.js';
import { sasrecBatch } from '../../src/train/sasrec.js';

test('histories are left-padded ids (item + 1); a window predicts each next item', () => {
  assert.deepEqual(Array.from(packHistory([[4, 2], [0, 1, 2, 3]], 3)), [0, 5, 3, 2, 3, 4]);
  const { items, targets } = sasrecBatch([Int32Array.from([7, 8, 9]), Int32Array.from([3, 4])], 3);
  assert.deepEqual(Array.from(items), [0, 8, 9, 0, 0, 4]);
  assert.deepEqual(Array.from(targets), [0, 9, 10, 0, 0, 5]);
});

test('scores: h_T(u) · e_i over the catalog, pinned on a hand-set one-dimensional-pair model', async () => {
  await initBackend('auto');
  // No blocks: h = LayerNorm(sqrt(D) e_last + p_T). With D = 2 and gain 1, LayerNorm([x, y]) ~ [s, -s], s = sign(x - y).
  const arch: SasrecArch = { numItems: 3, dim: 2, layers: 0, heads: 1, maxLen: 2, dropout: 0 };
  const w = new Map<string, tf.Tensor>([
    ['item_emb', tf.tensor2d([[0, 0], [1, 0], [0, 1], [2, -1]])], // pad, items 0, 1, 2
    ['pos_emb', tf.zeros([2, 2])],
    ['ln_f.g', tf.ones([2])],
    ['ln_f.b', tf.zeros([2])],
  ]);
  const model = Sasrec.fromTensors(arch, w, 'test weights');
  const before = tf.memory().numTensors;
  const scores = tf.tidy(() => {
    const h = model.hidden(tf.tensor2d(packHistory([[0], [1]], 2), [2, 2], 'int32'), null); // [4, 2]
    return model.scoreAll(tf.gather(h, [1, 3]) as tf.Tensor2D); // the last position of each history
  });
  // last item 0 -> h = [1, -1]: scores [1, -1, 3]; last item 1 -> h = [-1, 1]: scores [-1, 1, -3]. LayerNorm's eps (1e-5) shrinks them by ~1e-5.
  const got = Array.from(await scores.data());
  [1, -1, 3, -1, 1, -3].forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-4, `score ${i}: ${got[i]} vs ${v}`));
  scores.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
  tf.dispose([...w.values()]);
});

test('attention is causal and ignores padding: earlier positions do not see later items, left padding changes nothing', async () => {
  await initBackend('auto');
  const model = Sasrec.create({ numItems: 10, dim: 8, layers: 2, heads: 2, maxLen: 4, dropout: 0 }, new Rng(3));
  const hiddenOf = (rows: number[][]) => tf.tidy(() => model.hidden(tf.tensor2d(rows, [rows.length, 4], 'int32'), null).arraySync() as number[][]);
  const [a, b] = [hiddenOf([[0, 3, 5, 7]]), hiddenOf([[0, 3, 5, 9]])];
  // Positions 1 and 2 (items 3, 5) are the same whatever comes after them; position 3 differs.
  for (const t of [1, 2]) a[t].forEach((v, d) => assert.ok(Math.abs(v - b[t][d]) < 1e-6));
  assert.ok(a[3].some((v, d) => Math.abs(v - b[3][d]) > 1e-4));
  model.dispose();
});
