/**
 * A few SFT AdamW steps of a small policy from fixed seeds (policy 3, batch 5): what the backend
 * tests compare with a kernel, a gradient or a thread count switched. By default four steps of a
 * Beauty-shaped policy (2 layers, d 64, 2 heads, 21-item windows of 4-level SIDs: the attention's
 * 84 positions). Returns each step's loss and gradient norm and the parameters after the last
 * step; nothing is left allocated.
 */
import * as tf from '@tensorflow/tfjs';
import { benchPolicy, sftBatch, type BenchShapes } from '../../src/bench/workloads.js';
import { buildSequences, disposeSequences } from '../../src/model/policy.js';
import { Rng } from '../../src/rng.js';
import { AdamW } from '../../src/train/optimizer.js';

const SMALL_BEAUTY_SHAPES: BenchShapes = { layers: 2, dim: 64, heads: 2, levels: 4, codebookSize: 64, items: 21, batch: 8, G: 1, beam: 1, prompts: 1, iters: 1, peakSize: 1 };

export async function sftSteps(steps = 4, shapes: BenchShapes = SMALL_BEAUTY_SHAPES): Promise<{ stats: { loss: number; gradNorm: number }[]; params: Float32Array[] }> {
  const policy = benchPolicy(shapes, 3);
  const opt = new AdamW(policy.params, { weightDecay: 0.01, gradClip: 1 });
  const { codes, windows } = sftBatch(shapes, new Rng(5));
  const stats: { loss: number; gradNorm: number }[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const batch = buildSequences(policy.layout, codes, windows);
      const { value, grads } = tf.variableGrads(() => policy.sequenceLoss(batch, false), [...policy.params.values()]);
      const s = await opt.step(grads, 1e-3, value as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
      disposeSequences(batch);
      stats.push({ loss: s.loss!, gradNorm: s.gradNorm });
    }
    return { stats, params: [...policy.params.values()].map((p) => p.dataSync() as Float32Array) };
  } finally {
    policy.dispose();
    opt.dispose();
  }
}
