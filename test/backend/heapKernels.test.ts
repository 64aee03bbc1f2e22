/**
 * The wasm backend's heap kernels (src/backend.ts, registerHeapKernels; docs/PERFORMANCE.md,
 * "Kernels over the wasm heap"): Identity and same-dtype Cast share their input's data; large 2-D
 * Transpose, Sum over leading axes, Slice, GatherV2 and UnsortedSegmentSum are JavaScript loops
 * over the wasm heap.
 *
 * - Each is bit-identical to tfjs's own kernel (setHeapKernel(name, false)) on the shapes of the
 *   SFT step and on edge cases (keepDims, 3-D inputs, int32, columns not a multiple of 8, size-1
 *   axes, empty tensors); UnsortedSegmentSum (tfjs 4.22's wasm has none) matches a sum in index
 *   order in float32.
 * - Cases they leave to tfjs (batched or narrow transposes, last-axis sums) are tfjs's kernel.
 * - Nothing leaks: no tensor, no wasm memory over repeated calls, shared data freed with its last
 *   user.
 * - Four SFT AdamW steps with all of them on and all off: the same losses, gradient norms and
 *   parameters, bit for bit.
 *
 * Nothing here is timed.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { HEAP_KERNELS, canonicalPerm, initBackend, setHeapKernel, setNarrowPackedWeightGrad, type HeapKernel } from '../../src/backend.js';
import { setClosedFormLayerNormGrad } from '../../src/model/layers.js';
import { sftSteps } from '../helpers/sftSteps.js';

before(async () => {
  await initBackend('wasm');
});

/** f's values with the given heap kernels on or off (the switches are restored). */
function valuesWith(on: boolean, names: readonly HeapKernel[], f: () => tf.Tensor): Float32Array | Int32Array | Uint8Array {
  const was = names.map((n) => setHeapKernel(n, on));
  try {
    // Read outside tidy: tidy walks what it returns looking for tensors (a typed array: each element).
    const t = tf.tidy(f);
    const v = t.dataSync() as Float32Array | Int32Array | Uint8Array;
    t.dispose();
    return v;
  } finally {
    names.forEach((n, i) => setHeapKernel(n, was[i]));
  }
}

function bitsEqual(x: Float32Array | Int32Array | Uint8Array, y: Float32Array | Int32Array | Uint8Array): boolean {
  return x.length === y.length && Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)) === 0;
}

function assertSameAsTfjs(name: HeapKernel, cases: Record<string, () => tf.Tensor>): void {
  for (const [label, f] of Object.entries(cases)) {
    const heap = valuesWith(true, [name], f);
    const tfjs = valuesWith(false, [name], f);

    assert.ok(bitsEqual(heap, tfjs), `${name} ${label}: not the bits of tfjs's kernel`);
  }
}

test('canonicalPerm drops size-1 axes and merges axes that stay neighbours', () => {
  assert.deepEqual(canonicalPerm([10752, 128], [1, 0]), { shape: [10752, 128], perm: [1, 0] });
  assert.deepEqual(canonicalPerm([4, 5, 6], [2, 0, 1]), { shape: [20, 6], perm: [1, 0] });
  assert.deepEqual(canonicalPerm([2, 1, 3], [1, 2, 0]), { shape: [2, 3], perm: [1, 0] });
  assert.deepEqual(canonicalPerm([2, 3, 4, 5], [0, 2, 1, 3]), { shape: [2, 3, 4, 5], perm: [0, 2, 1, 3] });
  assert.deepEqual(canonicalPerm([2, 3, 4], [0, 1, 2]), { shape: [24], perm: [0] });
  assert.deepEqual(canonicalPerm([30, 1, 40], [1, 0, 2]), { shape: [1200], perm: [0] });
  assert.deepEqual(canonicalPerm([5, 1, 6, 7], [2, 3, 1, 0]), { shape: [5, 42], perm: [1, 0] });
  assert.deepEqual(canonicalPerm([1, 1], [1, 0]), { shape: [], perm: [] });
});

test('Transpose, Sum, Slice and GatherV2 over the heap: the bits of tfjs\'s kernels', () => {
  const before = tf.memory().numTensors;
  const x = tf.randomNormal([1000, 130], 0, 1, 'float32', 1); // 130: not a multiple of the column block of 8
  const big = tf.randomNormal([10752, 128], 0, 1, 'float32', 2); // the SFT step's activations
  const z = tf.randomNormal([12, 21, 4, 20], 0, 1, 'float32', 3);
  const ints = tf.randomUniform([300, 70], -1000, 1000, 'int32', 4);
  assertSameAsTfjs('Transpose', {
    '[1000, 130]': () => tf.transpose(x),
    '[10752, 128]': () => tf.transpose(big),
    'int32 [300, 70]': () => tf.transpose(ints),
    '[a, b, c] perm [2, 0, 1]': () => tf.transpose(tf.reshape(big, [84, 128, 128]), [2, 0, 1]),
    'no-op perm': () => tf.transpose(x, [0, 1]),
    'only a size-1 axis moves': () => tf.transpose(tf.reshape(x, [1000, 1, 130]), [1, 0, 2]),
    'left to tfjs: batched [.., 4, 20] swap': () => tf.transpose(z, [0, 1, 3, 2]),
    'left to tfjs: [B, N, H, D] -> [B, H, N, D]': () => tf.transpose(z, [0, 2, 1, 3]),
  });
  assertSameAsTfjs('Sum', {
    'axis 0 of [1000, 130]': () => tf.sum(x, 0),
    'axis 0 of [10752, 128]': () => tf.sum(big, 0),
    'axis -2 keepDims': () => tf.sum(x, -2, true),
    'axes [0, 1] of [12, 21, 4, 20]': () => tf.sum(z, [0, 1]),
    'left to tfjs: axes [1, 0] (tfjs sums in that order)': () => tf.sum(z, [1, 0]),
    'axes [0, 1, 2] keepDims': () => tf.sum(z, [0, 1, 2], true),
    'left to tfjs: last axis': () => tf.sum(x, -1),
    'left to tfjs: all axes': () => tf.sum(z),
    'left to tfjs: axis 1 of 3': () => tf.sum(z, 1),
  });
  assertSameAsTfjs('Slice', {
    'one level of [12, 21, 4, 20]': () => tf.slice(z, [0, 0, 2, 0], [-1, -1, 1, -1]),
    'a box': () => tf.slice(z, [3, 1, 0, 5], [7, 9, 3, 10]),
    'rows': () => tf.slice(x, [100, 0], [50, 130]),
    'columns': () => tf.slice(x, [0, 7], [1000, 3]),
    'int32': () => tf.slice(ints, [5, 10], [20, 30]),
    'whole': () => tf.slice(x, [0, 0], [-1, -1]),
    'empty': () => tf.slice(x, [0, 0], [0, 130]),
  });
  const ids = tf.tensor2d([[5, 3, 999], [0, 5, 1]], [2, 3], 'int32');
  assertSameAsTfjs('GatherV2', {
    'rows, 2-D indices': () => tf.gather(x, ids),
    'int32 rows': () => tf.gather(ints, tf.tensor1d([299, 0, 7], 'int32')),
    'axis 1': () => tf.gather(x, tf.tensor1d([129, 0, 64], 'int32'), 1),
    'axis 2 of 4-D': () => tf.gather(z, tf.tensor1d([3, 3, 1], 'int32'), 2),
  });
  assert.throws(() => tf.tidy(() => tf.gather(x, tf.tensor1d([1000], 'int32'))), /1000 is not in \[0, 999\]/);
  tf.dispose([x, big, z, ints, ids]);
  assert.equal(tf.memory().numTensors, before);
});

test('Identity, same-dtype Cast and no-op Transpose share the input\'s data, freed with its last user', () => {
  const before = tf.memory().numTensors;
  const bytes = tf.memory().numBytes;
  const x = tf.randomNormal([300, 40], 0, 1, 'float32', 5);
  const xv = x.dataSync().slice();
  const c = tf.clone(x); // the Identity kernel
  const k = tf.cast(x, 'float32');
  assert.equal(c.dataId, x.dataId);
  assert.equal(k.dataId, x.dataId);
  x.dispose();
  assert.ok(bitsEqual(c.dataSync() as Float32Array, xv), 'the clone outlives the original');
  c.dispose();
  assert.ok(bitsEqual(k.dataSync() as Float32Array, xv), 'the cast outlives both');
  const i = tf.cast(k, 'int32'); // another dtype: tfjs's kernel, a copy
  assert.notEqual(i.dataId, k.dataId);
  tf.dispose([k, i]);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(tf.memory().numBytes, bytes);
  assertSameAsTfjs('Identity', { clone: () => tf.clone(tf.range(0, 10)) });
  assert.equal(tf.memory().numTensors, before);
});

test('a transposed [1, N] used as matMul\'s b after the original: the right product (MatMul caches its operator by tensor id)', () => {
  // A Transpose that moved only the size-1 axis once shared its input's id under the new shape;
  // the module then reused the operator packed for b = [1, 7] when b was [7, 1]: the ranker's
  // gradients went wrong and this product aborted the module.
  const before = tf.memory().numTensors;
  const [first, second] = tf.tidy(() => {
    const a = tf.tensor2d([[1], [2]]); // [2, 1]
    const b = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7]]); // [1, 7]
    const m1 = tf.matMul(a, b); // b as [K = 1, N = 7]
    const c = tf.tensor2d([[1, 0, 0, 0, 0, 0, 1], [0, 1, 0, 1, 0, 1, 0]]); // [2, 7]
    return [m1, tf.matMul(c, tf.transpose(b))]; // b as [K = 7, N = 1]
  });
  assert.deepEqual(first.arraySync(), [[1, 2, 3, 4, 5, 6, 7], [2, 4, 6, 8, 10, 12, 14]]);
  assert.deepEqual(second.arraySync(), [[8], [12]]); // 1 + 7; 2 + 4 + 6
  tf.dispose([first, second]);
  assert.equal(tf.memory().numTensors, before);
});

test('UnsortedSegmentSum (the gradient of a gather) adds rows in index order, in float32', () => {
  const before = tf.memory().numTensors;
  const n = 500;
  const inner = 12;
  const x = tf.randomNormal([n, inner], 0, 1, 'float32', 6);
  const idsArr = Int32Array.from({ length: n }, (_, i) => (i * 7919) % 9 - 1); // -1: dropped
  const ids = tf.tensor1d(idsArr, 'int32');
  const got = tf.tidy(() => tf.unsortedSegmentSum(x, ids, 8).dataSync() as Float32Array);
  const xv = x.dataSync();
  const want = new Float32Array(8 * inner);
  for (let i = 0; i < n; i++) {
    if (idsArr[i] < 0 || idsArr[i] >= 8) continue;
    for (let j = 0; j < inner; j++) want[idsArr[i] * inner + j] += xv[i * inner + j];
  }
  assert.ok(bitsEqual(got, want));
  tf.dispose([x, ids]);
  assert.equal(tf.memory().numTensors, before);
});

test('repeated heap kernels hold no wasm memory', () => {
  const x = tf.randomNormal([2000, 130], 0, 1, 'float32', 7);
  const ids = tf.tensor1d(Int32Array.from({ length: 2000 }, (_, i) => i % 50), 'int32');
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  const run = (reps: number) => {
    for (let i = 0; i < reps; i++) {
      tf.tidy(() => {
        tf.transpose(x);
        tf.sum(x, 0);
        tf.slice(x, [1, 1], [100, 100]);
        tf.gather(x, tf.tensor1d([1, 2, 3], 'int32'));
        tf.unsortedSegmentSum(x, ids, 50);
        tf.clone(x);
      });
    }
  };
  run(5);
  const after5 = heap();
  const before = tf.memory().numTensors;
  const bytes = tf.memory().numBytes;
  run(100);
  assert.equal(heap(), after5);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(tf.memory().numBytes, bytes);
  tf.dispose([x, ids]);
});

test('a weight gradient with a wider dy is t(t(dy) x x): the same bits as t(x) x dy', async () => {
  const before = tf.memory().numTensors;
  const x = tf.randomNormal([300, 40], 0, 1, 'float32', 8);
  const w = tf.tidy(() => tf.variable(tf.randomNormal([40, 100], 0, 1, 'float32', 9), true, 'heap-wg-w'));
  const c = tf.randomNormal([300, 100], 0, 1, 'float32', 10);
  const grad = async (on: boolean) => {
    const was = setNarrowPackedWeightGrad(on);
    try {
      let g: Float32Array | undefined;
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(tf.matMul(x, w), c)) as tf.Scalar, [w]);
        g = grads[w.name].dataSync() as Float32Array;
        tf.dispose([value, ...Object.values(grads)]);
      });
      const products = profile.kernels.filter((k) => k.name === 'BatchMatMul').map((k) => JSON.stringify(k.inputShapes));
      return { g: g!, products };
    } finally {
      setNarrowPackedWeightGrad(was);
    }
  };
  const on = await grad(true);
  const off = await grad(false);
  assert.ok(bitsEqual(on.g, off.g));
  // Which product ran: dy's transpose [100, 300] x x [300, 40], against t(x) [40, 300] x dy [300, 100].
  assert.ok(on.products.includes('[[100,300],[300,40]]'), on.products.join(' '));
  assert.ok(off.products.includes('[[40,300],[300,100]]'), off.products.join(' '));
  tf.dispose([x, w, c]);
  assert.equal(tf.memory().numTensors, before);
});

test('four SFT AdamW steps: the same bits with the heap kernels and the weight gradients\' orientation on and off', async () => {
  // 2 layers, d 64, 2 heads, 21-item windows of 4-level SIDs: every heap kernel runs in the step
  // (the bias gradients' column sums, the weight gradients' transposes of [672, 64], the
  // embedding gradients' segment sums, the per-level slices and gathers), and the MLP's first
  // weight gradient (dy [672, 256] wider than x [672, 64]) takes the other orientation.
  const run = async (on: boolean) => {
    const was = HEAP_KERNELS.map((n) => setHeapKernel(n, on));
    const wgWas = setNarrowPackedWeightGrad(on);
    try {
      return await sftSteps();
    } finally {
      HEAP_KERNELS.forEach((n, i) => setHeapKernel(n, was[i]));
      setNarrowPackedWeightGrad(wgWas);
    }
  };
  const lnWas = setClosedFormLayerNormGrad(false); // that change is not bit-identical: test/model/layerNorm.test.ts
  try {
    const before = tf.memory().numTensors;
    const off = await run(false);
    const on = await run(true);
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(on.stats, off.stats);
    on.params.forEach((p, i) => assert.ok(bitsEqual(p, off.params[i]), `parameter ${i}`));
  } finally {
    setClosedFormLayerNormGrad(lnWas);
  }
});
