/**
 * Choosing the codebook size K of residual k-means: a larger K leaves fewer items sharing an
 * L-code tuple (those need a dedup level, which the policy must then learn to decode) but spreads
 * the training signal over more codes, many of them barely used. `data inspect` prints both for a
 * few candidate sizes; `sid.codebookSize: auto` takes the smallest candidate whose collision rate
 * is at most `sid.collisionTarget`.
 */
import type { Rng } from '../../rng.js';
import { dedup, residualKMeans, type ResidualKMeansResult } from './rqkmeans.js';

/** Candidate sizes of `auto` (and the default of `data inspect`): powers of two, capped by the catalog. */
export const AUTO_CODEBOOK_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024] as const;

export interface CodebookCandidate {
  size: number;
  /** Share of items whose tuple (before dedup) is shared with another item. */
  collisionRate: number;
  maxCollisionGroup: number;
  /** Per level (before dedup), share of the K codes used by at least one item. */
  codebookUsage: number[];
}

/** Sizes to try for a catalog of n items: those < n, and n itself once (every item its own code). */
export function candidateSizes(sizes: readonly number[], n: number): number[] {
  const below = [...new Set(sizes)].filter((k) => k >= 2 && k < n).sort((a, b) => a - b);
  return sizes.some((k) => k >= n) && n >= 2 ? [...below, n] : below;
}

/** The smallest candidate at or under the target; the one with the fewest collisions when none is. */
export function chooseCodebookSize(candidates: readonly CodebookCandidate[], target: number): { chosen: CodebookCandidate; metTarget: boolean } {
  if (candidates.length === 0) throw new Error('chooseCodebookSize: no candidates');
  const sorted = [...candidates].sort((a, b) => a.size - b.size);
  const ok = sorted.find((c) => c.collisionRate <= target);
  if (ok) return { chosen: ok, metTarget: true };
  const fewest = sorted.reduce((b, c) => (c.collisionRate < b.collisionRate ? c : b));
  return { chosen: fewest, metTarget: false };
}

/**
 * Residual k-means at each size (ascending) over the same embeddings x [n*d], each from a fresh
 * `kmeansRng()` (the stream a fixed size would use, so the chosen size's codes are those a config
 * with that size gives): the candidates' statistics and their codes. Stops after the first
 * candidate for which `stopWhen` holds.
 */
export function codebookSweep(
  x: Float32Array,
  n: number,
  d: number,
  levels: number,
  sizes: readonly number[],
  iters: number,
  kmeansRng: () => Rng,
  opts: { onSize?: (done: number) => void; stopWhen?: (c: CodebookCandidate) => boolean } = {},
): { candidate: CodebookCandidate; rq: ResidualKMeansResult }[] {
  const out: { candidate: CodebookCandidate; rq: ResidualKMeansResult }[] = [];
  for (const size of sizes) {
    const rq = residualKMeans(x, n, d, levels, size, iters, kmeansRng());
    const dd = dedup(rq.codes, n, rq.levels, rq.codebookSizes);
    // Usage of the base levels only: a dedup level's usage says nothing about K.
    const candidate = { size, collisionRate: dd.collisionRate, maxCollisionGroup: dd.maxCollisionGroup, codebookUsage: dd.codebookUsage.slice(0, levels) };
    out.push({ candidate, rq });
    opts.onSize?.(out.length);
    if (opts.stopWhen?.(candidate)) break;
  }
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Aligned table: size (* = `chosen`), collision rate, largest group, per-level codebook usage. */
export function formatCandidates(cands: readonly CodebookCandidate[], chosen?: number): string {
  const rows = [
    ['K', 'collision rate', 'max group', 'usage per level'],
    ...cands.map((c) => [String(c.size), pct(c.collisionRate), String(c.maxCollisionGroup), c.codebookUsage.map(pct).join(' / ')]),
  ];
  const w = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  return rows
    .map((r, i) => {
      const mark = i > 0 && cands[i - 1].size === chosen ? ' *' : '  ';
      return `  ${r[0].padStart(w[0])}${mark}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}  ${r[3]}`;
    })
    .join('\n');
}
