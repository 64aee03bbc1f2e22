/**
 * Top-K recommendation metrics (docs/METHOD.md 2.6), pure functions over ranked lists of item indices.
 * A list holds, best first, the item of each decoded tuple, `INVALID` for a tuple that is no
 * catalog item (a hallucination) and `EMPTY` for a slot with no candidate at all (constrained
 * decoding over a catalog smaller than the beam), which counts neither as a hit nor as a
 * hallucination.
 *
 * Metric names (the keys of `computeMetrics`, of metrics.jsonl and of eval JSON files):
 *   hr@K            share of users whose target is among their top K
 *   ndcg@K          1/log2(rank+1) of the first hit within the top K (rank from 1), else 0
 *   hallucination@K invalid tuples among the top K / K, averaged over users
 *   validity        valid tuples / returned tuples over every user's whole list (the beam)
 *   coverage@10     distinct valid items in all top-10 lists / catalog size
 *   popularity@10   mean popularity percentile (0 = least, 100 = most trained-on) of a user's
 *                   valid top-10 items, averaged over users with at least one valid item
 *   utility@10      synthetic world only: mean true utility of a user's valid top-10 items,
 *                   averaged over users with at least one valid item
 */

export const INVALID = -1;
export const EMPTY = -2;

export interface RankedList {
  user: number;
  target: number;
  /** Last item of the history (the synthetic utility depends on it); -1 when there is none. */
  lastItem: number;
  /** Item per rank, best first; INVALID / EMPTY as above. */
  items: ArrayLike<number>;
}

/** 1 when `target` is among the first k items, else 0. */
export function hitAt(items: ArrayLike<number>, target: number, k: number): number {
  const n = Math.min(k, items.length);
  for (let i = 0; i < n; i++) if (items[i] === target) return 1;
  return 0;
}

/** 1/log2(rank + 1) of the first occurrence of `target` within the first k (rank from 1), else 0. */
export function ndcgAt(items: ArrayLike<number>, target: number, k: number): number {
  const n = Math.min(k, items.length);
  for (let i = 0; i < n; i++) if (items[i] === target) return 1 / Math.log2(i + 2);
  return 0;
}

/** Invalid tuples among the first k, divided by k. */
export function hallucinationAt(items: ArrayLike<number>, k: number): number {
  const n = Math.min(k, items.length);
  let bad = 0;
  for (let i = 0; i < n; i++) if (items[i] === INVALID) bad++;
  return bad / k;
}

/**
 * Popularity percentile of every item from its training count, by mid-rank:
 * 100 * (#items with a smaller count + #items with the same count / 2) / I.
 */
export function popularityPercentiles(counts: ArrayLike<number>): Float64Array {
  const I = counts.length;
  const order = Array.from({ length: I }, (_, i) => i).sort((a, b) => counts[a] - counts[b]);
  const out = new Float64Array(I);
  let i = 0;
  while (i < I) {
    let j = i;
    while (j + 1 < I && counts[order[j + 1]] === counts[order[i]]) j++;
    const pct = (100 * (i + (j - i + 1) / 2)) / I;
    for (let t = i; t <= j; t++) out[order[t]] = pct;
    i = j + 1;
  }
  return out;
}

export interface MetricOptions {
  ks: readonly number[];
  numItems: number;
  /** [I] training interaction counts, for popularity@10. */
  counts?: ArrayLike<number>;
  /** True utility of an item for (user, last item): synthetic world only, for utility@10. */
  utility?: ((user: number, lastItem: number, item: number) => number) | null;
}

/** Every metric over a set of users' lists (means over users; 0 users -> all 0). */
export function computeMetrics(lists: readonly RankedList[], opts: MetricOptions): Record<string, number> {
  const U = lists.length;
  const out: Record<string, number> = {};
  const mean = (f: (r: RankedList) => number) => (U === 0 ? 0 : lists.reduce((s, r) => s + f(r), 0) / U);
  for (const k of opts.ks) out[`hr@${k}`] = mean((r) => hitAt(r.items, r.target, k));
  for (const k of opts.ks) out[`ndcg@${k}`] = mean((r) => ndcgAt(r.items, r.target, k));
  for (const k of opts.ks) out[`hallucination@${k}`] = mean((r) => hallucinationAt(r.items, k));

  let returned = 0;
  let valid = 0;
  const covered = new Set<number>();
  for (const r of lists) {
    for (let i = 0; i < r.items.length; i++) {
      const it = r.items[i];
      if (it === EMPTY) continue;
      returned++;
      if (it >= 0) {
        valid++;
        if (i < 10) covered.add(it);
      }
    }
  }
  out.validity = returned === 0 ? 0 : valid / returned;
  out['coverage@10'] = opts.numItems === 0 ? 0 : covered.size / opts.numItems;

  // Per-user means over the valid items of the top 10, then the mean over users that have any.
  const perUser = (score: (r: RankedList, item: number) => number): number => {
    let sum = 0;
    let users = 0;
    for (const r of lists) {
      let s = 0;
      let n = 0;
      for (let i = 0; i < Math.min(10, r.items.length); i++) {
        if (r.items[i] >= 0) {
          s += score(r, r.items[i]);
          n++;
        }
      }
      if (n > 0) {
        sum += s / n;
        users++;
      }
    }
    return users === 0 ? 0 : sum / users;
  };
  if (opts.counts) {
    const pct = popularityPercentiles(opts.counts);
    out['popularity@10'] = perUser((_, it) => pct[it]);
  }
  if (opts.utility) {
    const u = opts.utility;
    out['utility@10'] = perUser((r, it) => u(r.user, r.lastItem, it));
  }
  return out;
}
