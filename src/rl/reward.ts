/**
 * Rollout rewards (docs/METHOD.md 2.3): sigmoid(ranker logit) for a generated tuple that is a catalog
 * item, `reward.invalid` for one that is not (a hallucination), plus `reward.hit` when the
 * rollout is the ground truth. `rewards` is pure; `rolloutRewards` runs the ranker once for a
 * whole batch of B prompts x G rollouts and then calls it.
 */
import type { Config } from '../config/schema.js';
import type { Ranker } from '../model/ranker.js';

export type RewardConfig = Config['reward'];

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * Rewards of B*G rollouts.
 * @param scores [B*G] ranker logits (or click probabilities with `scale: 'prob'`); ignored where invalid
 * @param valid [B*G] 1 = the tuple is a catalog item
 * @param isGroundTruth [B*G] 1 = the rollout is the sample's ground-truth item
 * @returns [B*G] rewards
 */
export function rewards(
  scores: ArrayLike<number>,
  valid: ArrayLike<number>,
  isGroundTruth: ArrayLike<number>,
  cfg: RewardConfig,
  scale: 'logit' | 'prob' = 'logit',
): Float32Array {
  const n = scores.length;
  if (valid.length !== n || isGroundTruth.length !== n) {
    throw new Error(`rewards: ${n} scores, ${valid.length} valid flags, ${isGroundTruth.length} ground-truth flags`);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (!valid[i]) {
      out[i] = cfg.invalid;
      continue;
    }
    const p = scale === 'logit' ? sigmoid(scores[i]) : scores[i];
    out[i] = p + (isGroundTruth[i] ? cfg.hit : 0);
  }
  return out;
}

export interface RolloutScores {
  /** [B*G] rewards, row-major by prompt. */
  rewards: Float32Array;
  /** [B*G] ranker logits; NaN for invalid rollouts. */
  logits: Float32Array;
  /** [B*G] 1 = catalog item. */
  valid: Uint8Array;
  /** [B*G] 1 = equals the prompt's ground truth. */
  isGroundTruth: Uint8Array;
}

/**
 * Score B prompts x G rollouts with the ranker in one batched pass and turn them into rewards.
 * @param histories [B] each prompt's item history (time order; the ranker keeps its last maxHistory)
 * @param items [B*G] rollout items, -1 where the generated tuple is no catalog item
 * @param targets [B] ground-truth items
 */
export async function rolloutRewards(
  ranker: Ranker,
  histories: ArrayLike<Int32Array>,
  items: Int32Array,
  G: number,
  targets: ArrayLike<number>,
  cfg: RewardConfig,
  batchSize = 256,
): Promise<RolloutScores> {
  const B = histories.length;
  if (targets.length !== B) throw new Error(`rolloutRewards: ${B} histories but ${targets.length} targets`);
  const logits = await ranker.scoreItems(histories, items, G, batchSize);
  const valid = new Uint8Array(B * G);
  const isGroundTruth = new Uint8Array(B * G);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < G; g++) {
      const i = b * G + g;
      valid[i] = items[i] >= 0 ? 1 : 0;
      isGroundTruth[i] = items[i] >= 0 && items[i] === targets[b] ? 1 : 0;
    }
  }
  return { rewards: rewards(logits, valid, isGroundTruth, cfg), logits, valid, isGroundTruth };
}
