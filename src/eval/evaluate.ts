/**
 * Evaluate a policy on a leave-one-out split (docs/METHOD.md 2.6): batched beam search of width W per
 * user, each beam mapped to its catalog item (or INVALID), then every metric of metrics.ts.
 * Unconstrained by default so that hallucination is measurable; `constrained` restricts decoding
 * to the catalog's trie (hallucination is then exactly 0).
 */
import type { Progress } from '../progress.js';
import type { Config } from '../config/schema.js';
import { Catalog } from '../data/sid/catalog.js';
import type { SemanticIds } from '../data/sid/types.js';
import { trainItemCounts } from '../data/splits.js';
import { trueUtility } from '../data/synthetic.js';
import type { Example, Splits } from '../data/types.js';
import { beamSearch, policyDecoder } from '../model/decoding.js';
import { buildPrompts, disposePrompts, type Policy } from '../model/policy.js';
import { EMPTY, computeMetrics, type MetricOptions, type RankedList } from './metrics.js';
import type { PreparedInputs } from '../data/inputs.js';
import type { EvalUsers } from '../runs/evalReport.js';

export interface EvalOptions {
  split: 'valid' | 'test';
  /** Evaluate N users of the split, chosen by userSample; 0 = all. Default config.eval.maxUsers. */
  maxUsers?: number;
  /** How those N users are chosen. Default config.eval.userSample. */
  userSample?: UserSample;
  /** Beam width W. Default config.eval.beam. */
  beam?: number;
  /** Default config.eval.constrained. */
  constrained?: boolean;
  /** Prompts per beam-search batch. Default config.eval.batchSize. */
  batchSize?: number;
  progress?: Progress;
  /** Keep every user's ranked list in the result (for the top-10 file). */
  keepRankings?: boolean;
  /** Also score each ground truth, log pi(y|x), from the beam search's own prompt cache. */
  targetLogProbs?: boolean;
}

export interface UserRanking {
  user: number;
  target: number;
  /** [W] item per beam, best first; INVALID (-1) = no item, EMPTY (-2) = no candidate. */
  items: Int32Array;
  /** [W] sequence log-probs of the beams. */
  scores: Float32Array;
  /** log pi(y|x) of the ground truth (nats, unconstrained), with EvalOptions.targetLogProbs. */
  targetLogProb?: number;
}

export interface EvalResult {
  metrics: Record<string, number>;
  users: number;
  beam: number;
  constrained: boolean;
  /** K values reported (those of config.eval.ks that are <= the beam). */
  ks: number[];
  seconds: number;
  usersPerSec: number;
  rankings: UserRanking[] | null;
}

const catalogs = new WeakMap<SemanticIds, Catalog>();
const itemCounts = new WeakMap<Splits, Int32Array>();

/** The catalog trie of a set of SIDs, built once per SemanticIds object. */
export function catalogOf(sids: SemanticIds): Catalog {
  let c = catalogs.get(sids);
  if (!c) {
    c = new Catalog(sids);
    catalogs.set(sids, c);
  }
  return c;
}

/** Training interaction counts per item, computed once per Splits object. */
export function countsOf(inputs: PreparedInputs): Int32Array {
  let c = itemCounts.get(inputs.splits);
  if (!c) {
    c = trainItemCounts(inputs.splits, inputs.dataset.itemIds.length);
    itemCounts.set(inputs.splits, c);
  }
  return c;
}

/** How a capped evaluation picks its users (docs/METHOD.md 2.6, "Which users"). */
export type UserSample = 'spread' | 'first';

/**
 * [n] indices of the evaluated examples among `total` (every one when n is 0 or >= total).
 * spread: example ⌊i·total/n⌋ for i = 0..n-1, evenly over the split in file order, so a file
 * ordered by activity still gives a representative subset; first: examples 0..n-1. No
 * randomness: the same n is the same users in every run and seed, so comparisons stay paired.
 */
export function sampleIndices(total: number, n: number, how: UserSample): Int32Array {
  if (n <= 0 || n >= total) return Int32Array.from({ length: total }, (_, i) => i);
  // i·total < 2^53 for any split size this tool can hold, so the floor is exact.
  return Int32Array.from({ length: n }, (_, i) => (how === 'first' ? i : Math.floor((i * total) / n)));
}

/** The evaluated users: `maxUsers` examples of the split chosen by `how` (all when 0). */
export function evalExamples(inputs: PreparedInputs, split: 'valid' | 'test', maxUsers: number, how: UserSample): Example[] {
  const all = inputs.splits[split];
  if (maxUsers <= 0 || maxUsers >= all.length) return all;
  return Array.from(sampleIndices(all.length, maxUsers, how), (i) => all[i]);
}

/**
 * Which users an evaluation decodes, as its report records them: how many, and how they were
 * chosen (userSample undefined when every user of the split is decoded).
 */
export function sampledUsers(inputs: PreparedInputs, split: 'valid' | 'test', maxUsers: number, how: UserSample): EvalUsers {
  const total = inputs.splits[split].length;
  return maxUsers > 0 && maxUsers < total ? { users: maxUsers, userSample: how } : { users: total };
}

/** What computeMetrics needs besides the lists; shared by the policy and the popular baseline. */
export function metricOptions(inputs: PreparedInputs, ks: readonly number[]): MetricOptions {
  const truth = inputs.dataset.truth;
  return {
    ks,
    numItems: inputs.dataset.itemIds.length,
    counts: countsOf(inputs),
    utility: truth ? (user, lastItem, item) => trueUtility(truth, user, lastItem, item) : null,
  };
}

export function rankedList(ex: Example, items: ArrayLike<number>): RankedList {
  return { user: ex.user, target: ex.target, lastItem: ex.history.length > 0 ? ex.history[ex.history.length - 1] : -1, items };
}

export async function evaluatePolicy(policy: Policy, inputs: PreparedInputs, config: Config, opts: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const beam = opts.beam ?? config.eval.beam;
  const constrained = opts.constrained ?? config.eval.constrained;
  const batchSize = opts.batchSize ?? config.eval.batchSize;
  const ks = config.eval.ks.filter((k) => k <= beam);
  const examples = evalExamples(inputs, opts.split, opts.maxUsers ?? config.eval.maxUsers, opts.userSample ?? config.eval.userSample);
  const catalog = catalogOf(inputs.sids);
  const codes = inputs.sids.codes;
  const L = inputs.sids.levels;
  const maxHistory = policy.config.maxHistory;
  const decoder = policyDecoder(policy);

  // Batches of similar prompt length waste less on padding; results go back to split order.
  const order = examples.map((_, i) => i).sort((a, b) => Math.min(examples[a].history.length, maxHistory) - Math.min(examples[b].history.length, maxHistory));
  const rankings: UserRanking[] = new Array(examples.length);
  for (let start = 0; start < order.length; start += batchSize) {
    const idx = order.slice(start, start + batchSize);
    const prompt = buildPrompts(policy.layout, codes, idx.map((i) => examples[i].history), maxHistory);
    let r;
    try {
      const targets = opts.targetLogProbs ? new Int32Array(idx.length * L) : null; // [B*L]
      idx.forEach((i, b) => targets?.set(codes.subarray(examples[i].target * L, (examples[i].target + 1) * L), b * L));
      r = await beamSearch(decoder, prompt, { beam, mask: constrained ? catalog : null, targets });
    } finally {
      disposePrompts(prompt);
    }
    idx.forEach((i, b) => {
      const items = new Int32Array(r.k);
      for (let j = 0; j < r.k; j++) {
        const row = b * r.k + j;
        items[j] = r.scores[row] === -Infinity ? EMPTY : catalog.lookup(r.codes, row * L);
      }
      rankings[i] = { user: examples[i].user, target: examples[i].target, items, scores: r.scores.slice(b * r.k, (b + 1) * r.k) };
      if (r.targetLogProbs) rankings[i].targetLogProb = r.targetLogProbs[b];
    });
    opts.progress?.update(Math.min(start + batchSize, order.length));
  }
  const metrics = computeMetrics(
    examples.map((ex, i) => rankedList(ex, rankings[i].items)),
    metricOptions(inputs, ks),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    metrics,
    users: examples.length,
    beam,
    constrained,
    ks,
    seconds,
    usersPerSec: seconds > 0 ? examples.length / seconds : 0,
    rankings: opts.keepRankings ? rankings : null,
  };
}

