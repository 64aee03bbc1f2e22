/**
 * Ranking metrics of a scorer against labels: AUC, GAUC and Spearman correlation. Pure functions
 * over plain arrays.
 *
 * AUC = P(score of a positive > score of a negative), ties counting one half, computed by sorting
 * (O(n log n)). Labels may be soft (in [0, 1]): item i then counts as a positive with weight y_i
 * and as a negative with weight 1 - y_i, and an item is never paired with itself. For 0/1 labels
 * this is the usual AUC; for click probabilities it is the expected AUC's ratio estimate without
 * label-sampling noise.
 */

export interface AucParts {
  /** Sum over ordered (pos, neg) pairs of weight * [s_pos > s_neg] (+ 1/2 on ties). */
  correct: number;
  /** Total pair weight. 0 when only one class is present. */
  pairs: number;
}

/** Numerator and denominator of the AUC; `correct/pairs` is the AUC. */
export function aucParts(scores: ArrayLike<number>, labels: ArrayLike<number>): AucParts {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`auc: ${n} scores but ${labels.length} labels`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let negBelow = 0; // negative weight with strictly lower score
  let correct = 0;
  let totalPos = 0;
  let totalNeg = 0;
  let selfPairs = 0; // sum y(1-y): an item's pairing with itself, excluded
  for (let i = 0; i < n; ) {
    let j = i;
    let pos = 0;
    let neg = 0;
    let self = 0;
    while (j < n && scores[order[j]] === scores[order[i]]) {
      const y = labels[order[j]];
      pos += y;
      neg += 1 - y;
      self += y * (1 - y);
      j++;
    }
    correct += pos * negBelow + 0.5 * (pos * neg - self);
    negBelow += neg;
    totalPos += pos;
    totalNeg += neg;
    selfPairs += self;
    i = j;
  }
  return { correct, pairs: totalPos * totalNeg - selfPairs };
}

/** AUC, or NaN when only one class is present. Ties count one half. */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { correct, pairs } = aucParts(scores, labels);
  return pairs > 1e-12 ? correct / pairs : NaN;
}

/**
 * How GAUC averages per-user AUCs:
 * - `impressions`: weighted by the user's number of scored candidates (DIN's GAUC, Zhou et al. 2018);
 * - `user`: every user counts the same.
 */
export type GaucWeighting = 'impressions' | 'user';

export interface GaucResult {
  gauc: number;
  /** Users with both classes (the others are skipped). */
  users: number;
  /** Users skipped because all their labels were one class. */
  skipped: number;
}

/**
 * Group AUC: the AUC of each group (user) with both classes, averaged with `weighting`.
 * `groups[i]` is the group id of sample i; samples of a group need not be contiguous.
 */
export function gauc(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  groups: ArrayLike<number>,
  weighting: GaucWeighting = 'impressions',
): GaucResult {
  const byGroup = new Map<number, number[]>();
  for (let i = 0; i < groups.length; i++) {
    let g = byGroup.get(groups[i]);
    if (!g) byGroup.set(groups[i], (g = []));
    g.push(i);
  }
  let sum = 0;
  let wsum = 0;
  let users = 0;
  let skipped = 0;
  for (const idx of byGroup.values()) {
    const a = auc(
      idx.map((i) => scores[i]),
      idx.map((i) => labels[i]),
    );
    if (Number.isNaN(a)) {
      skipped++;
      continue;
    }
    const w = weighting === 'impressions' ? idx.length : 1;
    sum += w * a;
    wsum += w;
    users++;
  }
  return { gauc: wsum > 0 ? sum / wsum : NaN, users, skipped };
}

/** Ranks 1..n with ties given their average rank. */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j < n && x[order[j]] === x[order[i]]) j++;
    const r = (i + 1 + j) / 2; // mean of ranks i+1..j
    for (let k = i; k < j; k++) ranks[order[k]] = r;
    i = j;
  }
  return ranks;
}

/** Spearman rank correlation (Pearson of average ranks); NaN when either side is constant or n < 2. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (y.length !== n) throw new Error(`spearman: ${n} vs ${y.length} values`);
  if (n < 2) return NaN;
  const rx = averageRanks(x);
  const ry = averageRanks(y);
  const mean = (n + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = rx[i] - mean;
    const dy = ry[i] - mean;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}
