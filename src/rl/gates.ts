/**
 * The per-sample gate c_i ∈ {0,1} of docs/METHOD.md 2.4-2.5, built from two rollout diagnostics that need
 * no extra sampling: policy-side difficulty (from the rollouts' and the ground truth's log-probs
 * under pi_old) and reward discriminability (does the ranker score the ground truth above the
 * rollout and in-batch negatives?). Algorithms are the same loss with different gates.
 */
import type { Algorithm, GateConfig } from '../config/schema.js';
import type { Rng } from '../rng.js';
import { marginDisc } from './discriminability.js';

/** What the gate sees of one sample, all from the rollout pass (pi_old, no gradient). */
export interface GateSample {
  gtItem: number;
  /** [G] items the rollouts decode to; -1 for a hallucination. */
  rolloutItems: Int32Array;
  /** [G] sequence log-probs of the rollouts under pi_old. */
  rolloutLogProbs: Float32Array;
  /** Sequence log-prob of the ground truth under pi_old. */
  gtLogProb: number;
  /** Mean per-token policy entropy over the rollout positions (nats). */
  meanEntropy: number;
}

export type DifficultyStatistic = GateConfig['difficulty']['statistic'];

/**
 * The difficulty statistic and whether it marks the sample hard:
 * - gtRank: q = share of rollouts whose log-prob exceeds the ground truth's; hard ⇔ q ≥ τ
 * - gtProb: p = pi(y|x); hard ⇔ p < τ
 * - hitRate: h = share of rollouts equal to the ground truth; hard ⇔ h < τ
 * - entropy: mean per-token entropy; hard ⇔ entropy ≥ τ
 */
export const difficultyStatistics: Record<DifficultyStatistic, { value: (s: GateSample) => number; hard: (v: number, tau: number) => boolean }> = {
  gtRank: {
    value: (s) => {
      let above = 0;
      for (let g = 0; g < s.rolloutLogProbs.length; g++) if (s.rolloutLogProbs[g] > s.gtLogProb) above++;
      return above / s.rolloutLogProbs.length;
    },
    hard: (q, tau) => q >= tau,
  },
  gtProb: { value: (s) => Math.exp(s.gtLogProb), hard: (p, tau) => p < tau },
  hitRate: {
    value: (s) => {
      let hits = 0;
      for (let g = 0; g < s.rolloutItems.length; g++) if (s.rolloutItems[g] === s.gtItem) hits++;
      return hits / s.rolloutItems.length;
    },
    hard: (h, tau) => h < tau,
  },
  entropy: { value: (s) => s.meanEntropy, hard: (e, tau) => e >= tau },
};

/**
 * For each sample, M ground-truth items of *other* samples in the batch, drawn without
 * replacement; items equal to the sample's own ground truth are skipped, so a sample is never
 * its own negative. Fewer than M when the batch has too few distinct other items.
 */
export function inBatchNegatives(gtItems: Int32Array, M: number, rng: Rng): Int32Array[] {
  const B = gtItems.length;
  const out: Int32Array[] = [];
  for (let i = 0; i < B; i++) {
    const others: number[] = [];
    for (let j = 0; j < B; j++) if (j !== i && gtItems[j] !== gtItems[i]) others.push(j);
    rng.shuffle(others);
    const chosen: number[] = [];
    const seen = new Set<number>();
    for (const j of others) {
      if (chosen.length >= M) break;
      if (seen.has(gtItems[j])) continue;
      seen.add(gtItems[j]);
      chosen.push(gtItems[j]);
    }
    out.push(Int32Array.from(chosen));
  }
  return out;
}

/**
 * Negatives N_i: distinct valid rollout items other than the ground truth, then the in-batch
 * negatives (deduplicated against them).
 */
export function negativeSet(s: Pick<GateSample, 'gtItem' | 'rolloutItems'>, inBatch: Int32Array): Int32Array {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const it of [...s.rolloutItems, ...inBatch]) {
    if (it < 0 || it === s.gtItem || seen.has(it)) continue;
    seen.add(it);
    out.push(it);
  }
  return Int32Array.from(out);
}

/** Today's margin test (docs/METHOD.md 2.5); the other estimators are in ./discriminability.ts. */
export const discriminability = marginDisc;

export interface GateDiagnostics {
  /** [B] difficulty statistic values. */
  difficulty: Float64Array;
  /** [B] discriminability d_i (NaN: no negatives). */
  disc: Float64Array;
  /** [B] 1 = hard. */
  hard: Uint8Array;
  /** [B] 1 = discriminable (d_i ≥ ρ). */
  discriminable: Uint8Array;
}

export function gateDiagnostics(
  samples: GateSample[],
  discValues: Float64Array,
  cfg: GateConfig,
): GateDiagnostics {
  const stat = difficultyStatistics[cfg.difficulty.statistic];
  const B = samples.length;
  const difficulty = new Float64Array(B);
  const hard = new Uint8Array(B);
  const discriminable = new Uint8Array(B);
  for (let i = 0; i < B; i++) {
    difficulty[i] = stat.value(samples[i]);
    hard[i] = stat.hard(difficulty[i], cfg.difficulty.tau) ? 1 : 0;
    discriminable[i] = discValues[i] >= cfg.discriminability.rho ? 1 : 0; // NaN >= ρ is false
  }
  return { difficulty, disc: discValues, hard, discriminable };
}

export interface GateContext {
  rng: Rng;
  /** Admission probability of the random-gate control. */
  randomP: number;
}

export interface GateRule {
  /** Weight of the NLL term. */
  wNll: number;
  /** c_i for every sample. */
  admit: (d: GateDiagnostics, ctx: GateContext) => Uint8Array;
}

const all = (v: 0 | 1) => (d: GateDiagnostics) => new Uint8Array(d.hard.length).fill(v);

/** docs/METHOD.md 2.4's table: every algorithm is the same loss with a different gate. */
export const gates: Record<Algorithm, GateRule> = {
  nll: { wNll: 1, admit: all(0) },
  grpo: { wNll: 0, admit: all(1) },
  'grpo+nll': { wNll: 1, admit: all(1) },
  adagrpo: { wNll: 1, admit: (d) => d.hard.map((h, i) => h & d.discriminable[i]) },
  'random-gate': {
    wNll: 1,
    admit: (d, ctx) => {
      const c = new Uint8Array(d.hard.length);
      for (let i = 0; i < c.length; i++) c[i] = ctx.rng.bernoulli(ctx.randomP) ? 1 : 0;
      return c;
    },
  },
  'hard-only': { wNll: 1, admit: (d) => d.hard.slice() },
  'disc-only': { wNll: 1, admit: (d) => d.discriminable.slice() },
};
