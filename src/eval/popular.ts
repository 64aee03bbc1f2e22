/**
 * The most-popular baseline: every user gets the same list, the items with the most training
 * interactions (ties: lower item index first), scored by the same metric code as the policy.
 * Any learned recommender should beat it; on exposure-biased data it is not weak.
 */
import type { Config } from '../config/schema.js';
import { countsOf, evalExamples, metricOptions, rankedList, type UserSample } from './evaluate.js';
import { computeMetrics } from './metrics.js';
import type { PreparedInputs } from '../data/inputs.js';

/** The n items with the highest counts, most popular first. */
export function popularItems(counts: ArrayLike<number>, n: number): Int32Array {
  const order = Array.from({ length: counts.length }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  return Int32Array.from(order.slice(0, n));
}

export interface PopularOptions {
  split: 'valid' | 'test';
  /** Same users as the policy's evaluation: N chosen by `sample` (0 = all). */
  maxUsers: number;
  sample: UserSample;
  /** List length (the policy's beam width), so validity and coverage compare like with like. */
  length: number;
  ks: readonly number[];
}

export function evaluatePopular(inputs: PreparedInputs, opts: PopularOptions): { metrics: Record<string, number>; users: number; items: Int32Array } {
  const items = popularItems(countsOf(inputs), opts.length);
  const examples = evalExamples(inputs, opts.split, opts.maxUsers, opts.sample);
  const metrics = computeMetrics(
    examples.map((ex) => rankedList(ex, items)),
    metricOptions(inputs, opts.ks),
  );
  return { metrics, users: examples.length, items };
}

/** Convenience: the popular baseline with a config's evaluation settings. */
export function evaluatePopularFor(
  inputs: PreparedInputs,
  config: Config,
  split: 'valid' | 'test',
  maxUsers = config.eval.maxUsers,
  beam = config.eval.beam,
  sample: UserSample = config.eval.userSample,
) {
  return evaluatePopular(inputs, { split, maxUsers, sample, length: beam, ks: config.eval.ks.filter((k) => k <= beam) });
}
