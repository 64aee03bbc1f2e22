/**
 * The wasm backend's sliced BatchMatMul (src/backend.ts, registerSlicedBatchMatMul;
 * docs/PERFORMANCE.md, "Batched matMuls on wasm"): a batch of equal-shape float32 slices without
 * transpose flags runs as one XNNPACK call per slice instead of tfjs 4.22's scalar loop.
 *
 * - It really takes that path: every slice is bit-identical to a 2-D matMul of that slice (which
 *   tfjs sends to XNNPACK), and differs in the last bits from tfjs's own kernel when the shared
 *   dimension exceeds that loop's block of 48.
 * - Tolerance against tfjs's own kernel (setSlicedBatchMatMul(false)): 1e-6 of the output's largest
 *   magnitude on every element; 1e-5 relative on the losses and gradient norms of four SFT AdamW
 *   steps. Cases it does not take (transpose flags, fewer than SLICED_BATCH_MATMUL_MIN_ROWS rows,
 *   batch dims that differ) are bit-identical to tfjs's kernel.
 * - Nothing leaks: no tensor, and no wasm memory across repeated calls (each slice's XNNPACK
 *   operator is deleted with its view).
 *
 * With 2 threads the same path runs inside test/backend/threads.test.ts's SFT steps, which must
 * match 1 thread bit for bit. Nothing here is timed.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, setSlicedBatchMatMul, SLICED_BATCH_MATMUL_MIN_ROWS } from '../../src/backend.js';
import { sftSteps } from '../helpers/sftSteps.js';

before(async () => {
  await initBackend('wasm');
});

/** tf.matMul with the sliced kernel on or off (the switch is restored). */
function matMulWith(sliced: boolean, a: tf.Tensor, b: tf.Tensor, transposeB = false): Float32Array {
  const was = setSlicedBatchMatMul(sliced);
  try {
    return tf.tidy(() => tf.matMul(a, b, false, transposeB).dataSync() as Float32Array);
  } finally {
    setSlicedBatchMatMul(was);
  }
}

function bitsEqual(x: Float32Array, y: Float32Array): boolean {
  return x.length === y.length && Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)) === 0;
}

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

test('batched matMuls run slice by slice through XNNPACK, within 1e-6 of tfjs\'s kernel', () => {
  const before = tf.memory().numTensors;
  // [batch dims, M, K] x [batch dims, K, N]: the attention's shapes at small sizes (K 12 and 60:
  // below and above the scalar loop's block of 48).
  for (const [sa, sb] of [
    [[3, 2, 20, 12], [3, 2, 12, 20]],
    [[3, 2, 20, 60], [3, 2, 60, 12]],
    [[5, SLICED_BATCH_MATMUL_MIN_ROWS, 60], [5, 60, 9]],
  ]) {
    const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
    const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
    const sliced = matMulWith(true, a, b);
    const original = matMulWith(false, a, b);
    const rel = relToMax(sliced, original);
    assert.ok(rel <= 1e-6, `${sa} x ${sb}: ${rel}`);
    // Each slice is exactly what XNNPACK gives for that slice alone (a 2-D matMul).
    const [M, K] = sa.slice(-2);
    const N = sb[sb.length - 1];
    const batch = sliced.length / (M * N);
    const a2 = tf.reshape(a, [batch, M, K]);
    const b2 = tf.reshape(b, [batch, K, N]);
    for (let s = 0; s < batch; s++) {
      const one = tf.tidy(() => tf.matMul(tf.squeeze(tf.slice(a2, [s, 0, 0], [1, M, K]), [0]), tf.squeeze(tf.slice(b2, [s, 0, 0], [1, K, N]), [0])).dataSync() as Float32Array);
      assert.ok(bitsEqual(sliced.subarray(s * M * N, (s + 1) * M * N), one), `${sa} x ${sb}: slice ${s}`);
    }
    if (K > 48) assert.ok(!bitsEqual(sliced, original), `${sa} x ${sb}: tfjs's loop sums in blocks of 48, XNNPACK does not`);
    tf.dispose([a, b, a2, b2]);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('a b without batch dims makes one XNNPACK product of all of a\'s rows', () => {
  const before = tf.memory().numTensors;
  const a = tf.randomNormal([2, 3, 4, 60], 0, 1, 'float32', 3);
  for (const b of [tf.randomNormal([60, 7], 0, 1, 'float32', 4), tf.randomNormal([1, 1, 60, 7], 0, 1, 'float32', 4)]) {
    const c = tf.matMul(a, b);
    assert.deepEqual(c.shape, [2, 3, 4, 7]);
    const sliced = c.dataSync() as Float32Array;
    assert.ok(relToMax(sliced, matMulWith(false, a, b)) <= 1e-6);
    const flat = tf.tidy(() => tf.matMul(tf.reshape(a, [24, 60]), tf.reshape(b, [60, 7])).dataSync() as Float32Array);
    assert.ok(bitsEqual(sliced, flat), 'the same bits as the 2-D product');
    tf.dispose([b, c]);
  }
  a.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('what the sliced kernel does not take is tfjs\'s own kernel, bit for bit', () => {
  const before = tf.memory().numTensors;
  const cases: [number[], number[], boolean][] = [
    [[4, 2, 60], [4, 60, 5], false], // M = 2: fewer rows than SLICED_BATCH_MATMUL_MIN_ROWS (decoding's one-query slices)
    [[3, 20, 60], [3, 9, 60], true], // transposeB
    [[2, 3, 20, 60], [3, 60, 9], false], // batch dims differ (broadcast)
  ];
  for (const [sa, sb, tB] of cases) {
    const a = tf.randomNormal(sa, 0, 1, 'float32', 5);
    const b = tf.randomNormal(sb, 0, 1, 'float32', 6);
    assert.ok(bitsEqual(matMulWith(true, a, b, tB), matMulWith(false, a, b, tB)), `${sa} x ${sb}${tB ? ' (transposeB)' : ''}`);
    tf.dispose([a, b]);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('repeated sliced products hold no wasm memory (each slice\'s XNNPACK operator goes with it)', () => {
  const a = tf.randomNormal([64, 20, 32], 0, 1, 'float32', 7);
  const b = tf.randomNormal([64, 32, 20], 0, 1, 'float32', 8);
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) tf.matMul(a, b).dispose();
  };
  run(10);
  const after10 = heap();
  const before = tf.memory().numTensors;
  run(200); // 12,800 slices: a kept operator (packed [32, 20] weights and more) each would grow the heap by MBs
  assert.equal(heap(), after10);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([a, b]);
});

test('four SFT AdamW steps: losses and gradient norms within 1e-5 relative of tfjs\'s kernel', async () => {
  // 2 layers, d 64, 2 heads (dh 32), 21-item windows of 4-level SIDs (Beauty's 84 positions):
  // [84, 32] x [32, 84] and [84, 84] x [84, 32] attention slices, whose 84-long sums tfjs's loop
  // splits at 48 (with 48 or fewer, both kernels add the same products in the same order).
  const run = async (sliced: boolean) => {
    const was = setSlicedBatchMatMul(sliced);
    try {
      return (await sftSteps()).stats;
    } finally {
      setSlicedBatchMatMul(was);
    }
  };
  const before = tf.memory().numTensors;
  const original = await run(false);
  const sliced = await run(true);
  assert.equal(tf.memory().numTensors, before);
  let worst = 0;
  original.forEach((o, i) => {
    for (const k of ['loss', 'gradNorm'] as const) {
      const rel = Math.abs(sliced[i][k] - o[k]) / Math.abs(o[k]);
      worst = Math.max(worst, rel);
      assert.ok(rel <= 1e-5, `step ${i + 1} ${k}: ${sliced[i][k]} vs ${o[k]}`);
    }
  });
  process.stdout.write(`# largest relative difference, sliced vs tfjs's BatchMatMul: ${worst.toExponential(2)}\n`);
  assert.ok(original.some((o, i) => o.loss !== sliced[i].loss || o.gradNorm !== sliced[i].gradNorm), 'the sliced kernel ran (84-long sums round differently)');
  // The values (tfjs 4.22 wasm, the seeds above), so that a change of either kernel is seen.
  const pinned = [
    [4.18087530, 0.73462874],
    [4.06217718, 0.61205119],
    [3.97271943, 0.72338682],
    [3.89080811, 0.63426614],
  ];
  sliced.forEach((s, i) => {
    assert.ok(Math.abs(s.loss - pinned[i][0]) < 1e-6, `step ${i + 1} loss ${s.loss}`);
    assert.ok(Math.abs(s.gradNorm - pinned[i][1]) < 1e-6, `step ${i + 1} grad norm ${s.gradNorm}`);
  });
});
