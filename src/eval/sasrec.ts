/**
 * Evaluating the SASRec baseline (docs/METHOD.md 2.9) exactly as the policy is evaluated (2.6):
 * the same users of the same leave-one-out split, the same metric code, and a list as long as the
 * policy's beam. Every catalog item is scored (full ranking, no sampled candidates) and nothing is
 * masked: the policy may recommend an item of the history too.
 */
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config/schema.js';
import type { PreparedInputs } from '../data/inputs.js';
import { packHistory, type Sasrec } from '../model/sasrec.js';
import type { Progress } from '../progress.js';
import { evalExamples, metricOptions, rankedList } from './evaluate.js';
import { computeMetrics, type RankedList } from './metrics.js';

export interface SasrecEvalResult {
  split: 'valid' | 'test';
  users: number;
  /** List length: eval.beam, as the policy's. */
  length: number;
  seconds: number;
  metrics: Record<string, number>;
}

export async function evaluateSasrec(
  model: Sasrec,
  inputs: PreparedInputs,
  config: Config,
  o: { split: 'valid' | 'test'; maxUsers: number; progress?: Progress },
): Promise<SasrecEvalResult> {
  const t0 = performance.now();
  const examples = evalExamples(inputs, o.split, o.maxUsers, config.eval.userSample);
  const length = Math.min(config.eval.beam, model.arch.numItems);
  const T = model.arch.maxLen;
  const B = config.eval.batchSize;
  const lists: RankedList[] = [];
  for (let start = 0; start < examples.length; start += B) {
    const batch = examples.slice(start, start + B);
    const top = tf.tidy(() => {
      const items = tf.tensor2d(packHistory(batch.map((ex) => ex.history), T), [batch.length, T], 'int32');
      const h = model.hidden(items, null); // [n*T, D]
      const last = tf.gather(h, tf.range(T - 1, batch.length * T, T, 'int32')); // [n, D]: the final position
      return tf.topk(model.scoreAll(last as tf.Tensor2D), length).indices; // [n, length]: item index = id - 1
    });
    const idx = (await top.data()) as Int32Array;
    top.dispose();
    batch.forEach((ex, b) => lists.push(rankedList(ex, idx.slice(b * length, (b + 1) * length))));
    o.progress?.update(Math.min(start + B, examples.length));
  }
  const metrics = computeMetrics(lists, metricOptions(inputs, config.eval.ks.filter((k) => k <= length)));
  return { split: o.split, users: examples.length, length, seconds: (performance.now() - t0) / 1000, metrics };
}
