/**
 * Evaluation of the production ranker (docs/METHOD.md 2.3) built to expose its exposure bias, not hide
 * it. A held-out log of the same exposure-biased logging policy would mostly contain head items,
 * so the candidates here are drawn uniformly *within each popularity bucket* (the same number
 * per bucket) for every evaluated user:
 *
 * - synthetic world: the users' `split` histories (validation by default), labels drawn from the
 *   world's true click model, Bernoulli(sigmoid(clickScale * (utility - clickBias))), with a fixed
 *   seed; also reported: the "oracle" AUC (true click probability as the score: the ceiling the
 *   label noise allows) and the per-user Spearman correlation of ranker score with true utility;
 * - real logs: the `split` target is the positive, the uniform-within-bucket draws are negatives.
 *
 * Buckets are by training count (trainItemCounts): items sorted by count, descending (ties by
 * item index); head = the top 20% of items, tail = the bottom 50%, torso = the rest. On the
 * synthetic world rows for fresh and established (non-fresh) items are added.
 *
 * AUC pools all (user, candidate) pairs of a group; GAUC is the per-user AUC over users with both
 * classes in the group, weighted by the user's number of candidates in the group (DIN's GAUC).
 */
import type { Config } from '../config/schema.js';
import { trainItemCounts } from '../data/splits.js';
import { clickProbability, trueUtility } from '../data/synthetic.js';
import type { Dataset, Example, Splits } from '../data/types.js';
import type { Ranker } from '../model/ranker.js';
import { Rng } from '../rng.js';
import { auc, gauc, spearman, type GaucWeighting } from './auc.js';

export const HEAD_SHARE = 0.2;
export const TAIL_SHARE = 0.5;
export const BUCKET_NAMES = ['head', 'torso', 'tail'] as const;
export type BucketName = (typeof BUCKET_NAMES)[number];

/** [I] bucket of each item: 0 head, 1 torso, 2 tail (see the file comment). */
export function popularityBuckets(counts: ArrayLike<number>, headShare = HEAD_SHARE, tailShare = TAIL_SHARE): Uint8Array {
  const I = counts.length;
  const order = Array.from({ length: I }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  const nHead = Math.round(headShare * I);
  const nTail = Math.round(tailShare * I);
  const out = new Uint8Array(I);
  order.forEach((item, rank) => {
    out[item] = rank < nHead ? 0 : rank >= I - nTail ? 2 : 1;
  });
  return out;
}

export interface RankerEvalOptions {
  split?: 'valid' | 'test';
  /** Candidates drawn per popularity bucket per user (default 20). */
  perBucket?: number;
  /** Evaluate at most this many users (0 = all; default config.eval.maxUsers). */
  maxUsers?: number;
  /** Seed of candidate draws and labels: fixed, so every run is judged on the same set. */
  seed?: number;
  weighting?: GaucWeighting;
  batchSize?: number;
}

export interface RankerEvalSet {
  labelSource: 'true-click-model' | 'next-item';
  G: number;
  histories: Int32Array[];
  /** [N] user of each row. */
  users: Int32Array;
  /** [N*G] candidates. */
  items: Int32Array;
  /** [N*G] 0/1 labels. */
  labels: Float32Array;
  /** [N*G] true utility (synthetic only). */
  utility: Float64Array | null;
  /** [N*G] true click probability (synthetic only). */
  clickProb: Float64Array | null;
}

/** Draw `n` items of `pool` uniformly, avoiding `used` when the pool allows it; adds them to `used`. */
function drawFrom(pool: Int32Array, n: number, used: Set<number>, rng: Rng, out: Int32Array, at: number): void {
  for (let k = 0; k < n; k++) {
    let it = pool[rng.int(pool.length)];
    for (let tries = 0; used.has(it) && tries < 32; tries++) it = pool[rng.int(pool.length)];
    used.add(it);
    out[at + k] = it;
  }
}

export function buildRankerEvalSet(dataset: Dataset, splits: Splits, config: Config, opts: RankerEvalOptions = {}): { set: RankerEvalSet; bucket: Uint8Array } {
  const numItems = dataset.itemIds.length;
  const perBucket = opts.perBucket ?? 20;
  const rng = new Rng(opts.seed ?? 20240601);
  const bucket = popularityBuckets(trainItemCounts(splits, numItems));
  const pools = [0, 1, 2].map((b) => Int32Array.from(Array.from(bucket.keys()).filter((i) => bucket[i] === b)));
  const examples: Example[] = opts.split === 'test' ? splits.test : splits.valid;
  const maxUsers = opts.maxUsers ?? config.eval.maxUsers;
  const rows = maxUsers > 0 && maxUsers < examples.length ? rng.shuffle(Array.from(examples.keys())).slice(0, maxUsers).sort((a, b) => a - b) : Array.from(examples.keys());
  const truth = dataset.truth;
  const nonEmptyPools = pools.filter((p) => p.length > 0).length;
  const offset = truth ? 0 : 1; // real logs: slot 0 is the positive
  const G = offset + perBucket * nonEmptyPools;
  const N = rows.length;
  const set: RankerEvalSet = {
    labelSource: truth ? 'true-click-model' : 'next-item',
    G,
    histories: new Array(N),
    users: new Int32Array(N),
    items: new Int32Array(N * G),
    labels: new Float32Array(N * G),
    utility: truth ? new Float64Array(N * G) : null,
    clickProb: truth ? new Float64Array(N * G) : null,
  };
  const { clickScale, clickBias } = config.data.synthetic;
  rows.forEach((e, r) => {
    const ex = examples[e];
    set.histories[r] = ex.history;
    set.users[r] = ex.user;
    // Items already consumed are excluded: the world never shows them again, and on real logs
    // they are not negatives.
    const used = new Set<number>(ex.history);
    if (!truth) {
      set.items[r * G] = ex.target;
      set.labels[r * G] = 1;
      used.add(ex.target);
    }
    let at = r * G + offset;
    for (const pool of pools) {
      if (pool.length === 0) continue;
      drawFrom(pool, perBucket, used, rng, set.items, at);
      at += perBucket;
    }
    if (truth) {
      const last = ex.history.length > 0 ? ex.history[ex.history.length - 1] : -1;
      for (let j = r * G; j < (r + 1) * G; j++) {
        const u = trueUtility(truth, ex.user, last, set.items[j]);
        const p = clickProbability(u, clickScale, clickBias);
        set.utility![j] = u;
        set.clickProb![j] = p;
        set.labels[j] = rng.next() < p ? 1 : 0;
      }
    }
  });
  return { set, bucket };
}

export interface RankerEvalRow {
  group: string;
  /** Catalog items in the group. */
  items: number;
  /** Scored (user, candidate) pairs in the group. */
  candidates: number;
  positiveRate: number;
  auc: number;
  gauc: number;
  /** Users with both classes in the group (the ones GAUC averages). */
  gaucUsers: number;
  /** AUC of the true click probability on the same labels (synthetic only): the attainable ceiling. */
  oracleAuc?: number;
  /** Mean over users of the Spearman correlation of ranker score with true utility (synthetic only). */
  spearman?: number;
}

export interface RankerEvalResult {
  dataset: string;
  split: 'valid' | 'test';
  labelSource: RankerEvalSet['labelSource'];
  users: number;
  candidatesPerUser: number;
  perBucket: number;
  weighting: GaucWeighting;
  bucketRule: string;
  rows: RankerEvalRow[];
}

/** Score the evaluation set with the ranker and compute every row. */
export async function evaluateRanker(ranker: Ranker, dataset: Dataset, splits: Splits, config: Config, opts: RankerEvalOptions = {}): Promise<RankerEvalResult> {
  const { set, bucket } = buildRankerEvalSet(dataset, splits, config, opts);
  const scores = await ranker.scoreItems(set.histories, set.items, set.G, opts.batchSize ?? config.eval.batchSize);
  return rankerEvalResult(dataset, set, bucket, scores, {
    split: opts.split ?? 'valid',
    perBucket: opts.perBucket ?? 20,
    weighting: opts.weighting ?? 'impressions',
  });
}

/** The metrics of given scores on an evaluation set (separate from scoring so it is pure). */
export function rankerEvalResult(
  dataset: Dataset,
  set: RankerEvalSet,
  bucket: Uint8Array,
  scores: Float32Array,
  meta: { split: 'valid' | 'test'; perBucket: number; weighting: GaucWeighting },
): RankerEvalResult {
  const G = set.G;
  const truth = dataset.truth;
  const numItems = bucket.length;
  const groups: { name: string; member: (item: number) => boolean }[] = [
    { name: 'overall', member: () => true },
    ...BUCKET_NAMES.map((name, b) => ({ name, member: (item: number) => bucket[item] === b })),
  ];
  if (truth) {
    groups.push({ name: 'fresh', member: (item) => truth.itemFresh[item] === 1 });
    groups.push({ name: 'established', member: (item) => truth.itemFresh[item] === 0 });
  }
  const rows: RankerEvalRow[] = [];
  for (const g of groups) {
    const idx: number[] = [];
    for (let j = 0; j < set.items.length; j++) if (g.member(set.items[j])) idx.push(j);
    let items = 0;
    for (let i = 0; i < numItems; i++) if (g.member(i)) items++;
    const s = idx.map((j) => scores[j]);
    const y = idx.map((j) => set.labels[j]);
    const users = idx.map((j) => Math.floor(j / G));
    const ga = gauc(s, y, users, meta.weighting);
    const row: RankerEvalRow = {
      group: g.name,
      items,
      candidates: idx.length,
      positiveRate: idx.length > 0 ? y.reduce((a, b) => a + b, 0) / idx.length : NaN,
      auc: auc(s, y),
      gauc: ga.gauc,
      gaucUsers: ga.users,
    };
    if (set.clickProb && set.utility) {
      row.oracleAuc = auc(
        idx.map((j) => set.clickProb![j]),
        y,
      );
      row.spearman = meanPerUserSpearman(idx, G, scores, set.utility);
    }
    rows.push(row);
  }
  return {
    dataset: dataset.name,
    split: meta.split,
    labelSource: set.labelSource,
    users: set.histories.length,
    candidatesPerUser: G,
    perBucket: meta.perBucket,
    weighting: meta.weighting,
    bucketRule: `by training count: head = top ${HEAD_SHARE * 100}% of items, tail = bottom ${TAIL_SHARE * 100}%, torso = the rest`,
    rows,
  };
}

/** Spearman of score vs utility within each user's candidates (>= 3 of them), averaged over users. */
function meanPerUserSpearman(idx: number[], G: number, scores: Float32Array, utility: Float64Array): number {
  let sum = 0;
  let n = 0;
  for (let a = 0; a < idx.length; ) {
    const row = Math.floor(idx[a] / G);
    let b = a;
    while (b < idx.length && Math.floor(idx[b] / G) === row) b++;
    if (b - a >= 3) {
      const js = idx.slice(a, b);
      const rho = spearman(
        js.map((j) => scores[j]),
        js.map((j) => utility[j]),
      );
      if (!Number.isNaN(rho)) {
        sum += rho;
        n++;
      }
    }
    a = b;
  }
  return n > 0 ? sum / n : NaN;
}

function cell(v: number | undefined, digits = 4): string {
  if (v === undefined) return '';
  return Number.isFinite(v) ? v.toFixed(digits) : 'n/a';
}

/** An aligned plain-text table (also valid markdown). */
export function formatRankerEval(r: RankerEvalResult): string {
  const synthetic = r.labelSource === 'true-click-model';
  const head = ['group', 'items', 'candidates', 'pos rate', 'AUC', 'GAUC', 'GAUC users'];
  if (synthetic) head.push('oracle AUC', 'Spearman(utility)');
  const body = r.rows.map((row) => {
    const c = [row.group, String(row.items), String(row.candidates), cell(row.positiveRate, 3), cell(row.auc), cell(row.gauc), String(row.gaucUsers)];
    if (synthetic) c.push(cell(row.oracleAuc), cell(row.spearman));
    return c;
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cs: string[]) => `| ${cs.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  const labels = synthetic
    ? `labels drawn from the true click model; oracle AUC = true click probability as the score`
    : `positive = the ${r.split} target, negatives = the other candidates`;
  return [
    `ranker evaluation on ${r.dataset} (${r.split}): ${r.users} users x ${r.candidatesPerUser} candidates ` +
      `(${r.perBucket} drawn uniformly from each popularity bucket${synthetic ? '' : ' + the positive'}); ${labels}.`,
    `buckets ${r.bucketRule}. GAUC = per-user AUC over users with both classes, weighted by ${r.weighting === 'impressions' ? "the user's candidates" : 'user'}.`,
    line(head),
    sep,
    ...body.map(line),
  ].join('\n');
}
