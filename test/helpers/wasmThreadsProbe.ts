/**
 * The child process of test/backend/threads.test.ts: the wasm module starts once per process, so
 * each thread count needs its own process.
 *   node wasmThreadsProbe.js <threads>      (no argument: exits at once)
 * starts the wasm backend with that many XNNPACK threads, runs a matMul and three SFT AdamW steps
 * of a small policy, and prints one JSON line: the thread count the backend reports, the pthread
 * workers running, the float32 results (bit patterns hashed, a few values in full) and the
 * tensors left behind.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import type { BenchShapes } from '../../src/bench/workloads.js';
import { sftSteps } from './sftSteps.js';

/** FNV-1a over the float32 bit patterns: equal hashes = bit-identical arrays (up to collisions). */
function bitsHash(v: Float32Array): string {
  const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < u.length; i++) {
    for (let s = 0; s < 32; s += 8) h = Math.imul(h ^ ((u[i] >>> s) & 0xff), 0x01000193) >>> 0;
  }
  return h.toString(16);
}

// `npm test` (node --test dist-test/test/) also runs every file under test/, helpers included:
// without an argument there is nothing to probe.
if (process.argv[2] === undefined) process.exit(0);
const threads = Number(process.argv[2]);
const info = await initBackend('wasm', () => {}, threads);
// The running pthread workers: XNNPACK's pool is the calling thread plus threads - 1 workers.
const module = (tf.findBackend('wasm') as unknown as { wasm: { PThread?: { runningWorkers: unknown[] } } }).wasm;
const before = tf.memory().numTensors;

// A matMul of several XNNPACK output tiles per thread: [384, 512] x [512, 640].
const a = tf.randomUniform([384, 512], -1, 1, 'float32', 11);
const b = tf.randomUniform([512, 640], -1, 1, 'float32', 12);
const c = tf.matMul(a, b);
const cv = (await c.data()) as Float32Array;
tf.dispose([a, b, c]);

// Three SFT steps (forward, backward with the explicit-transpose matMul gradient, AdamW) of a
// 2-layer, d = 64 policy on 32 windows of 12 items with 3 x 64 SIDs.
const shapes: BenchShapes = { layers: 2, dim: 64, heads: 2, levels: 3, codebookSize: 64, items: 12, batch: 32, G: 1, beam: 1, prompts: 1, iters: 1, peakSize: 1 };
const { stats: steps, params: values } = await sftSteps(3, shapes);
const params = values.map(bitsHash);

process.stdout.write(
  JSON.stringify({
    backend: info.name,
    threads: info.threads,
    workers: module.PThread?.runningWorkers.length ?? 0,
    matmul: { hash: bitsHash(cv), first: cv[0], last: cv[cv.length - 1] },
    steps,
    params,
    leaked: tf.memory().numTensors - before,
  }) + '\n',
);
