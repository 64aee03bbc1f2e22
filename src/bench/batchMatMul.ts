/**
 * Batched matMuls on wasm: tfjs's own BatchMatMul kernel against this project's sliced one
 * (src/backend.ts, registerSlicedBatchMatMul; docs/PERFORMANCE.md, "Batched matMuls on wasm").
 *
 *   node dist/bench/batchMatMul.js [--threads N] [--sweep]
 *
 * Times the attention's products at Beauty's shapes (128 windows x 4 heads, 84 positions, dh 32)
 * and a product with a shared b; `--sweep` adds `[512, M, 32] x [512, 32, 84]` for M = 1..32,
 * which sets SLICED_BATCH_MATMUL_MIN_ROWS. Prints ms per product (mean of 3 calls of tfjs's
 * kernel, 10 of the sliced one, after one of each) and the largest difference between the two.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, parseThreads, setSlicedBatchMatMul } from '../backend.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Mean ms of `reps` products (each read back) after one, and the last product's values. */
function time(a: tf.Tensor, b: tf.Tensor, sliced: boolean, reps: number): { ms: number; values: Float32Array } {
  setSlicedBatchMatMul(sliced);
  let c = tf.matMul(a, b);
  c.dataSync();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    c.dispose();
    c = tf.matMul(a, b);
    c.dataSync();
  }
  const ms = (performance.now() - t0) / reps;
  const values = c.dataSync() as Float32Array;
  c.dispose();
  return { ms, values };
}

async function main(): Promise<void> {
  await initBackend('wasm', (l) => process.stderr.write(l + '\n'), parseThreads(arg('--threads') ?? 1));
  const cases: [string, number[], number[]][] = [
    ['scores q x kT', [128, 4, 84, 32], [128, 4, 32, 84]],
    ['mix att x v', [128, 4, 84, 84], [128, 4, 84, 32]],
    ['gradient of kT: qT x dy', [128, 4, 32, 84], [128, 4, 84, 84]],
    ['shared b', [128, 84, 128], [128, 128]],
  ];
  if (process.argv.includes('--sweep')) for (const m of [1, 2, 4, 8, 16, 32]) cases.push([`M = ${m}`, [512, m, 32], [512, 32, 84]]);
  for (const [name, sa, sb] of cases) {
    const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
    const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
    const original = time(a, b, false, 3);
    const sliced = time(a, b, true, 10);
    let diff = 0;
    let max = 0;
    for (let i = 0; i < original.values.length; i++) {
      diff = Math.max(diff, Math.abs(original.values[i] - sliced.values[i]));
      max = Math.max(max, Math.abs(original.values[i]));
    }
    const flop = 2 * (sa.reduce((p, d) => p * d, 1) / sa[sa.length - 1]) * sa[sa.length - 1] * sb[sb.length - 1];
    process.stdout.write(
      `${name} [${sa}] x [${sb}]: tfjs ${original.ms.toFixed(2)} ms (${(flop / original.ms / 1e6).toFixed(1)} GFLOP/s), ` +
        `sliced ${sliced.ms.toFixed(2)} ms (${(flop / sliced.ms / 1e6).toFixed(1)} GFLOP/s), ${(original.ms / sliced.ms).toFixed(1)}x; ` +
        `largest difference ${(diff / max).toExponential(1)} of the largest value\n`,
    );
    tf.dispose([a, b]);
  }
  setSlicedBatchMatMul(true);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
