/**
 * The model side of `adagrpo stratify` (docs/METHOD.md 2.7): beam search with the policy, one batched
 * ranker pass over every sample's [beam | truth | in-batch negatives], and the per-sample records
 * that stratify.ts turns into tables. d_i is computed with the gate's own functions
 * (inBatchNegatives, negativeSet, discriminability), so it is exactly the d_i the gate would see
 * with the beam as rollouts.
 */
import type { ProgressFactory } from '../progress.js';
import type { Config } from '../config/schema.js';
import { trueUtility } from '../data/synthetic.js';
import type { Example, SyntheticTruth } from '../data/types.js';
import type { Policy } from '../model/policy.js';
import type { Ranker } from '../model/ranker.js';
import { discriminability, inBatchNegatives, negativeSet } from '../rl/gates.js';
import type { Discriminator } from '../rl/discriminability.js';
import { Rng } from '../rng.js';
import { evalExamples, evaluatePolicy, sampledUsers, type UserRanking } from './evaluate.js';
import { rmOrder, type StratSample } from './stratify.js';
import type { PreparedInputs } from '../data/inputs.js';
import { rankerReliability } from '../rl/reliability.js';

export interface StratifyRunOptions {
  split: 'valid' | 'test';
  beam: number;
  /** First N samples of the split; 0 = all. */
  maxUsers: number;
  /** --compare: the other run's policy, beam-searched on the same samples. */
  otherPolicy?: Policy;
  /** The run's gate.discriminability.estimator (default: the margin test), so d_i is the d_i its gate used. */
  discriminator?: Discriminator;
  progress?: ProgressFactory;
}

export interface StratifyRunResult {
  samples: StratSample[];
  /** Beam-search and ranker wall times (s), for the report. */
  seconds: { beam: number; ranker: number; other: number };
  /** Negatives drawn per sample (M) and the batch size they are drawn from (rl.batchSize). */
  inBatchNegatives: number;
  negativeBatch: number;
}

/** [W + 1 + M] ranker candidates of one sample: beam (invalid and empty → -1) | truth | in-batch negatives (-1 padded). */
export function candidateRow(beam: ArrayLike<number>, target: number, inBatch: Int32Array, M: number): Int32Array {
  const W = beam.length;
  const row = new Int32Array(W + 1 + M).fill(-1);
  for (let j = 0; j < W; j++) row[j] = beam[j] >= 0 ? beam[j] : -1;
  row[W] = target;
  row.set(inBatch.subarray(0, M), W + 1);
  return row;
}

/**
 * One sample's record from its candidate row (candidateRow) and the ranker's logits for it ([C],
 * NaN where -1): RM order of the beam, d_i over N_i = distinct valid beam items other than the
 * truth + the in-batch negatives (the gate's negativeSet, the beam playing the rollouts), and on
 * the synthetic world the ranker's reliability over the truth and N_i.
 */
export function sampleRecord(
  ex: Example,
  beam: Int32Array,
  inBatch: Int32Array,
  cand: ArrayLike<number>,
  logits: ArrayLike<number>,
  truth: SyntheticTruth | null,
  gtLogProb: number,
  /** d_i of the negatives N_i (default: the margin test on `logits`). */
  discOf?: (negatives: Int32Array) => number,
): StratSample {
  const W = beam.length;
  const scoreOf = new Map<number, number>();
  for (let c = 0; c < cand.length; c++) if (cand[c] >= 0) scoreOf.set(cand[c], logits[c]);
  const negSet = negativeSet({ gtItem: ex.target, rolloutItems: beam }, inBatch); // the beam plays the rollouts
  const disc = discOf ? discOf(negSet) : discriminability(scoreOf.get(ex.target)!, Array.from(negSet, (n) => scoreOf.get(n)!));
  let reliability = Number.NaN;
  if (truth) {
    const last = ex.history.length > 0 ? ex.history[ex.history.length - 1] : -1;
    const items = [ex.target, ...negSet];
    reliability = rankerReliability(
      items.map((it) => scoreOf.get(it)!),
      items.map((it) => trueUtility(truth, ex.user, last, it)),
    );
  }
  const beamScores = Float64Array.from({ length: W }, (_, j) => logits[j]);
  return { user: ex.user, target: ex.target, llm: beam, rm: rmOrder(beam, beamScores), disc, reliability, gtLogProb };
}

async function beams(policy: Policy, inputs: PreparedInputs, config: Config, opts: StratifyRunOptions, label: string): Promise<{ rankings: UserRanking[]; seconds: number }> {
  const { users } = sampledUsers(inputs, opts.split, opts.maxUsers, config.eval.userSample);
  const bar = opts.progress?.(label, users, 'users');
  try {
    const r = await evaluatePolicy(policy, inputs, config, { split: opts.split, beam: opts.beam, maxUsers: opts.maxUsers, keepRankings: true, targetLogProbs: true, progress: bar });
    return { rankings: r.rankings!, seconds: r.seconds };
  } finally {
    bar?.stop();
  }
}

/**
 * Per-sample records for the split. In-batch negatives come from consecutive batches of
 * `config.rl.batchSize` samples in split order (the gate's batch size), drawn from an Rng forked
 * from the run's seed, so the same command gives the same tables.
 */
export async function collectStratSamples(policy: Policy, ranker: Ranker, inputs: PreparedInputs, config: Config, opts: StratifyRunOptions): Promise<StratifyRunResult> {
  const examples = evalExamples(inputs, opts.split, opts.maxUsers, config.eval.userSample);
  const N = examples.length;
  const mine = await beams(policy, inputs, config, opts, 'beam search');
  const W = opts.beam;

  const M = config.gate.discriminability.inBatchNegatives;
  const NB = config.rl.batchSize;
  const rng = new Rng(config.seed).fork('stratify');
  const negs: Int32Array[] = [];
  for (let start = 0; start < N; start += NB) {
    const targets = Int32Array.from(examples.slice(start, start + NB), (ex) => ex.target);
    negs.push(...inBatchNegatives(targets, M, rng));
  }

  // [N, C] candidates, C = W beams | truth | M in-batch negatives; -1 = nothing to score.
  const t0 = performance.now();
  const C = W + 1 + M;
  const cand = new Int32Array(N * C);
  examples.forEach((ex, i) => cand.set(candidateRow(mine.rankings[i].items, ex.target, negs[i], M), i * C));
  const histories = examples.map((ex) => ex.history);
  const bar = opts.progress?.(`ranker scores (${C} candidates per user)`, N, 'users');
  const logits = await ranker.scoreItems(histories, cand, C); // [N*C], NaN where -1
  bar?.update(N);
  bar?.stop();
  const estimate = await opts.discriminator?.forBatch(histories, cand, C, logits);
  const rankerSeconds = (performance.now() - t0) / 1000;

  const truth = inputs.dataset.truth;
  const samples = examples.map((ex, i) =>
    sampleRecord(ex, mine.rankings[i].items, negs[i], cand.subarray(i * C, (i + 1) * C), logits.subarray(i * C, (i + 1) * C), truth, mine.rankings[i].targetLogProb!, estimate && ((negSet) => estimate(i, ex.target, negSet).d)),
  );

  let otherSeconds = 0;
  if (opts.otherPolicy) {
    const other = await beams(opts.otherPolicy, inputs, config, opts, 'beam search (compare)');
    otherSeconds = other.seconds;
    other.rankings.forEach((r, i) => {
      if (r.user !== samples[i].user || r.target !== samples[i].target) throw new Error(`compare: sample ${i} differs between the runs`);
      samples[i].other = r.items;
    });
  }
  return { samples, seconds: { beam: mine.seconds, ranker: rankerSeconds, other: otherSeconds }, inBatchNegatives: M, negativeBatch: NB };
}
