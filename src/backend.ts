/**
 * Backend selection and the one place that papers over missing kernels, so that model code
 * never asks which backend runs it.
 *
 * `auto` tries tfjs-node-gpu, tfjs-node, wasm, cpu in that order. Packages are imported
 * dynamically: tfjs-node-gpu is an optionalDependency whose libtensorflow download fails on
 * machines without network access, and tfjs-node is not a dependency at all (users may add it).
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { UserError } from './errors.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** tfjs backend name actually running: 'tensorflow' | 'wasm' | 'cpu'. */
  name: string;
  /** Package that provided it, e.g. '@tensorflow/tfjs-node-gpu'. */
  package: string;
  requested: BackendChoice;
  /** Why each earlier candidate was skipped, in the order tried. */
  skipped: { candidate: string; reason: string }[];
  tfjsVersion: string;
}

let current: BackendInfo | null = null;

async function tryNode(pkg: string): Promise<string | null> {
  try {
    await import(pkg);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    return (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' ? 'not installed' : msg;
  }
  return (await tf.setBackend('tensorflow')) ? null : 'tf.setBackend("tensorflow") failed';
}

async function tryWasm(): Promise<string | null> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    // Under Node the wasm binaries are read from disk next to the package's dist/.
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(dir + path.sep);
    // The threaded build's worker is a blob URL that Node cannot start (docs/METHOD.md 6).
    wasm.setThreadsCount(1);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    if (!(await tf.setBackend('wasm'))) return 'tf.setBackend("wasm") failed';
    await tf.ready();
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
  installWasmKernels();
  return null;
}

/**
 * Select and initialise a backend. Idempotent for the same choice: tests and the CLI may call it
 * repeatedly.
 */
export async function initBackend(requested: BackendChoice = 'auto', log: (line: string) => void = () => {}): Promise<BackendInfo> {
  if (current && (current.requested === requested || requested === 'auto' || current.name === requested)) {
    return current;
  }
  const candidates: { candidate: string; pkg: string; run: () => Promise<string | null> }[] = [];
  if (requested === 'auto' || requested === 'tensorflow') {
    candidates.push({ candidate: 'tensorflow (GPU)', pkg: '@tensorflow/tfjs-node-gpu', run: () => tryNode('@tensorflow/tfjs-node-gpu') });
    candidates.push({ candidate: 'tensorflow (CPU)', pkg: '@tensorflow/tfjs-node', run: () => tryNode('@tensorflow/tfjs-node') });
  }
  if (requested === 'auto' || requested === 'wasm') candidates.push({ candidate: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm', run: tryWasm });
  if (requested === 'auto' || requested === 'cpu') {
    candidates.push({
      candidate: 'cpu',
      pkg: '@tensorflow/tfjs-backend-cpu',
      run: async () => ((await tf.setBackend('cpu')) ? null : 'tf.setBackend("cpu") failed'),
    });
  }
  const skipped: BackendInfo['skipped'] = [];
  for (const c of candidates) {
    const reason = await c.run();
    if (reason === null) {
      await tf.ready();
      current = { name: tf.getBackend(), package: c.pkg, requested, skipped, tfjsVersion: tf.version.tfjs };
      for (const s of skipped) log(`backend: skipped ${s.candidate}: ${s.reason}`);
      log(`backend: ${current.name} (${c.pkg})`);
      return current;
    }
    skipped.push({ candidate: c.candidate, reason });
  }
  throw new UserError(
    `backend "${requested}" is not available: ${skipped.map((s) => `${s.candidate}: ${s.reason}`).join('; ')}. ` +
      `Use --backend auto to fall back to the next working one.`,
  );
}

let wasmKernelsInstalled = false;

/**
 * The wasm backend (tfjs 4.22) has no UnsortedSegmentSum kernel, which the gradient of gather
 * (embedding lookups) needs; and its matMul with transpose flags is 5-18x slower than a plain
 * matMul of an explicitly transposed operand, while the built-in BatchMatMul gradient uses those
 * flags. Both are fixed here, once.
 */
function installWasmKernels(): void {
  if (wasmKernelsInstalled) return;
  wasmKernelsInstalled = true;
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const b = backend as any;
      const xv = b.readSync(x.dataId) as Float32Array;
      const ids = b.readSync(segmentIds.dataId) as Int32Array;
      const n = segmentIds.shape[0];
      const inner = x.shape.slice(1).reduce((p, d) => p * d, 1);
      const out = new Float32Array(numSegments * inner);
      for (let i = 0; i < n; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        const o = s * inner;
        const xi = i * inner;
        for (let j = 0; j < inner; j++) out[o + j] += xv[xi + j];
      }
      return b.makeOutput([numSegments, ...x.shape.slice(1)], 'float32', undefined, out) as tf.TensorInfo;
    },
  });
  registerExplicitTransposeMatMulGrad();
  registerRowCopyGather();
}

/**
 * The wasm GatherV2 kernel (tfjs 4.22) costs ~250 ns per output element (a [5120, 64] embedding
 * lookup: ~80 ms), which made embedding lookups and beam reordering dominate decoding. Gather
 * without batch dims is a copy of contiguous rows, done here in JS (~100x faster); the original
 * kernel still serves batchDims > 0 and dtypes other than float32/int32.
 */
function registerRowCopyGather(): void {
  const original = tf.getKernel(tf.GatherV2, 'wasm');
  if (!original) return;
  tf.unregisterKernel(tf.GatherV2, 'wasm');
  tf.registerKernel({
    kernelName: tf.GatherV2,
    backendName: 'wasm',
    setupFunc: original.setupFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
      const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
      if ((batchDims ?? 0) !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32')) return original.kernelFunc(args);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const b = backend as any;
      const rank = x.shape.length;
      const ax = axis < 0 ? axis + rank : axis;
      const outer = x.shape.slice(0, ax).reduce((p, d) => p * d, 1);
      const dim = x.shape[ax];
      const inner = x.shape.slice(ax + 1).reduce((p, d) => p * d, 1);
      const xv = b.readSync(x.dataId) as Float32Array | Int32Array;
      const ids = b.readSync(indices.dataId) as Int32Array;
      const n = ids.length;
      for (let i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= dim) throw new Error(`GatherV2: the index value ${ids[i]} is not in [0, ${dim - 1}]`);
      }
      const out = x.dtype === 'int32' ? new Int32Array(outer * n * inner) : new Float32Array(outer * n * inner);
      for (let o = 0; o < outer; o++) {
        const src = o * dim * inner;
        const dst = o * n * inner;
        if (inner === 1) {
          for (let i = 0; i < n; i++) out[dst + i] = xv[src + ids[i]];
        } else {
          for (let i = 0; i < n; i++) out.set(xv.subarray(src + ids[i] * inner, src + (ids[i] + 1) * inner), dst + i * inner);
        }
      }
      const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
      return b.makeOutput(shape, x.dtype, undefined, out) as tf.TensorInfo;
    },
  });
}

function registerExplicitTransposeMatMulGrad(): void {
  // Silence tfjs's "Overriding the gradient" warning for this deliberate override.
  const warn = console.warn;
  console.warn = () => {};
  try {
    tf.registerGradient({
      kernelName: tf.BatchMatMul,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved as tf.Tensor[];
        const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
        const dyT = dy as tf.Tensor;
        const t = (x: tf.Tensor) => {
          const r = x.rank;
          const perm = [...Array(r).keys()];
          perm[r - 2] = r - 1;
          perm[r - 1] = r - 2;
          return tf.transpose(x, perm);
        };
        // Same algebra as tfjs's own gradient, with every transpose made explicit.
        if (!transposeA && !transposeB) return { a: () => tf.matMul(dyT, t(b)), b: () => tf.matMul(t(a), dyT) };
        if (!transposeA && transposeB) return { a: () => tf.matMul(dyT, b), b: () => tf.matMul(t(dyT), a) };
        if (transposeA && !transposeB) return { a: () => tf.matMul(b, t(dyT)), b: () => tf.matMul(a, dyT) };
        return { a: () => tf.matMul(t(b), t(dyT)), b: () => tf.matMul(t(dyT), t(a)) };
      },
    });
  } finally {
    console.warn = warn;
  }
}

/** Parse a `--backend` flag or config value. */
export function parseBackendChoice(v: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new UserError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}; got "${v}"`);
}
