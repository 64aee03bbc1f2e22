/**
 * What one SFT pass takes on the wasm heap, beside the estimate src/train/memory.ts refuses by:
 * the heap (one WebAssembly.Memory, which never shrinks) before and after one forward/backward
 * pass at Beauty-like shapes (dim 128, 4 SID levels).
 *
 *   npm run build && node dist/bench/memory.js <batch> <maxHistory> [layers=2] [heads=4]
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend.js';
import { validateConfig } from '../config/load.js';
import { Policy, sidLayout } from '../model/policy.js';
import { Rng } from '../rng.js';
import { estimateSft, gib } from '../train/memory.js';
import { sftStepGrads } from '../train/sft.js';

async function main(): Promise<void> {
  const [B, H, layers = 2, heads = 4] = process.argv.slice(2).map(Number);
  if (!(B >= 1 && H >= 1)) throw new Error('usage: node dist/bench/memory.js <batch> <maxHistory> [layers] [heads]');
  await initBackend('wasm');
  const config = validateConfig({ policy: { layers, dim: 128, heads, maxHistory: H }, sft: { batchSize: B } });
  const sizes = [64, 64, 64, 2];
  const I = 3000;
  const codes = Int32Array.from({ length: I * 4 }, (_, k) => (k % 4 === 3 ? 0 : (k * 7) % 64));
  const policy = Policy.create(config.policy, sidLayout(sizes), new Rng(1));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const heap = () => ((tf.backend() as any).wasm.HEAPU8 as Uint8Array).length;
  const before = heap();
  const windows = Array.from({ length: B }, (_, b) => Int32Array.from({ length: H + 1 }, (_, j) => (b * 31 + j * 17) % I));
  const { value, grads } = sftStepGrads(policy, codes, windows, false, 0, new Rng(2));
  tf.dispose([value, ...Object.values(grads)]);
  const e = estimateSft(config, sizes.length, sizes.reduce((a, b) => a + b, 0), H + 1, B);
  process.stdout.write(
    `batch ${B}, maxHistory ${H} (${e.tokens} tokens), ${layers} layers, ${heads} heads: ` +
      `wasm heap grew ${gib(heap() - before)} (${gib(before)} -> ${gib(heap())}); estimate ${gib(e.totalBytes)} (attention ${gib(e.attentionBytes)})\n`,
  );
  policy.dispose();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
