/**
 * Residual k-means (RQ-KMeans, docs/METHOD.md 2.1) and the dedup level that makes every item's tuple
 * unique. Level l clusters what levels < l left unexplained, so the first code is the coarse
 * region and later codes refine it, the prefix structure generative retrieval relies on.
 */
import type { Rng } from '../../rng.js';
import type { SidStats } from './types.js';

export interface KMeansResult {
  /** [k*d] row-major centroids. */
  centroids: Float64Array;
  /** [n] index of each point's nearest centroid. */
  assign: Int32Array;
  /** [n] squared distance of each point to its centroid. */
  dist: Float64Array;
  /** Lloyd iterations actually run (stops early once no assignment changes). */
  iterations: number;
}

/**
 * Euclidean distance between row i of x and row j of c ([*, d] each). Four accumulators: a single
 * one makes every add wait for the previous (FP add latency), which is most of the cost at d=32.
 */
function distance(x: Float64Array, i: number, c: Float64Array, j: number, d: number): number {
  const xo = i * d;
  const co = j * d;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let t = 0;
  for (; t + 3 < d; t += 4) {
    const e0 = x[xo + t] - c[co + t];
    const e1 = x[xo + t + 1] - c[co + t + 1];
    const e2 = x[xo + t + 2] - c[co + t + 2];
    const e3 = x[xo + t + 3] - c[co + t + 3];
    s0 += e0 * e0;
    s1 += e1 * e1;
    s2 += e2 * e2;
    s3 += e3 * e3;
  }
  for (; t < d; t++) {
    const e = x[xo + t] - c[co + t];
    s0 += e * e;
  }
  return Math.sqrt(s0 + s1 + (s2 + s3));
}

/**
 * Lower bounds are stored as float32 to halve their n*k memory. Rounding to float32 may go up by
 * 2^-24 relative, which would break a lower bound; shrinking by 2^-20 first keeps every stored
 * value below the true distance, at the cost of skipping very slightly fewer pairs.
 */
const SHRINK = 1 - 2 ** -20;

/**
 * k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre drawn with prob ∝ D(x)^2.
 * The triangle inequality skips most distances (Raff 2021): a new centre c_j cannot be nearer
 * to x than x's nearest centre c_m when d(c_j, c_m) >= 2 d(x, c_m), and then
 * d(c_j, c_m) - d(x, c_m) is a lower bound on d(x, c_j). Fills, for Elkan's iterations,
 * assign (nearest centre), upper (its exact distance) and lower [n, k] (a bound on every distance).
 */
function kmeansPlusPlus(
  x: Float64Array,
  n: number,
  d: number,
  k: number,
  rng: Rng,
  assign: Int32Array,
  upper: Float64Array,
  lower: Float32Array,
): Float64Array {
  const c = new Float64Array(k * d);
  const minD2 = new Float64Array(n).fill(Infinity);
  upper.fill(Infinity);
  const cc = new Float64Array(k); // distances from the new centre to the earlier ones
  let pick = rng.int(n);
  for (let j = 0; j < k; j++) {
    if (j > 0) {
      let total = 0;
      for (let i = 0; i < n; i++) total += minD2[i];
      // All points already coincide with a centre (fewer distinct points than k): any point will do.
      pick = total > 0 ? rng.categorical(minD2, total) : rng.int(n);
    }
    c.set(x.subarray(pick * d, pick * d + d), j * d);
    for (let m = 0; m < j; m++) cc[m] = distance(c, j, c, m, d);
    for (let i = 0; i < n; i++) {
      const r = upper[i];
      if (j > 0 && cc[assign[i]] >= 2 * r) {
        lower[i * k + j] = (cc[assign[i]] - r) * SHRINK;
        continue;
      }
      const dd = distance(x, i, c, j, d);
      lower[i * k + j] = dd * SHRINK;
      // Strict: among equidistant centres the earlier (lower index) wins, as in the assignment step.
      if (dd < r) {
        upper[i] = dd;
        minD2[i] = dd * dd;
        assign[i] = j;
      }
    }
  }
  return c;
}

/**
 * Lloyd's k-means on x [n*d] with k-means++ init, accelerated with Elkan's bounds (2003): per
 * point an upper bound on the distance to its centroid and a lower bound on the distance to every
 * centroid, moved by the triangle inequality when the centroids move. After the first few
 * iterations the bounds prove most (point, centroid) pairs irrelevant, so few distances are
 * computed; the assignments are Lloyd's up to rounding. Memory: n*k float32 bounds (12 MB for
 * 12k items x 256 codes).
 * An empty cluster is re-seeded at the point farthest from its centroid (the next empty one at
 * the next farthest), as scikit-learn does. `iters` counts centroid updates; every update is
 * followed by an assignment, so the returned assign/dist match the returned centroids.
 */
export function kmeans(x: Float64Array, n: number, d: number, k: number, iters: number, rng: Rng): KMeansResult {
  if (k < 1 || k > n) throw new Error(`kmeans: k=${k} must be in [1, n=${n}]`);
  const assign = new Int32Array(n);
  const upper = new Float64Array(n); // >= distance to own centroid
  const lower = new Float32Array(n * k); // [n, k] bound + drift at store time (see SHRINK, drift)
  const c = kmeansPlusPlus(x, n, d, k, rng, assign, upper, lower);

  const sums = new Float64Array(k * d);
  const counts = new Int32Array(k);
  const old = new Float64Array(k * d);
  const move = new Float64Array(k);
  const cc = new Float64Array(k * k); // [k, k] half the centroid-centroid distances
  const half = new Float64Array(k); // half the distance from each centroid to its nearest other
  // Elkan lowers every bound by its centroid's move after each update, n*k work per iteration.
  // Instead a bound is stored plus its centroid's total movement so far (drift), and
  // stored - drift[j] is the current bound: the same test with no per-iteration pass.
  const drift = new Float64Array(k);
  let changed = n;
  let iterations = 0;
  while (iterations < iters && changed > 0) {
    iterations++;
    old.set(c);
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const a = assign[i];
      counts[a]++;
      const so = a * d;
      const xo = i * d;
      for (let t = 0; t < d; t++) sums[so + t] += x[xo + t];
    }
    let empty = 0;
    for (let j = 0; j < k; j++) {
      if (counts[j] === 0) empty++;
      else for (let t = 0; t < d; t++) c[j * d + t] = sums[j * d + t] / counts[j];
    }
    if (empty > 0) {
      // Farthest points first (exact distances to their old centroid); ties by index.
      const dist = Float64Array.from({ length: n }, (_, i) => distance(x, i, old, assign[i], d));
      const far = Array.from({ length: n }, (_, i) => i).sort((a, b) => dist[b] - dist[a] || a - b);
      let next = 0;
      for (let j = 0; j < k; j++) {
        if (counts[j] > 0) continue;
        const p = far[next++];
        c.set(x.subarray(p * d, p * d + d), j * d);
      }
    }
    for (let j = 0; j < k; j++) move[j] = distance(c, j, old, j, d);
    for (let j = 0; j < k; j++) {
      half[j] = Infinity;
      cc[j * k + j] = 0;
    }
    for (let j = 0; j < k; j++)
      for (let j2 = j + 1; j2 < k; j2++) {
        const h = distance(c, j, c, j2, d) / 2;
        cc[j * k + j2] = h;
        cc[j2 * k + j] = h;
        if (h < half[j]) half[j] = h;
        if (h < half[j2]) half[j2] = h;
      }
    for (let j = 0; j < k; j++) drift[j] += move[j];
    changed = 0;
    for (let i = 0; i < n; i++) {
      const lo = i * k;
      let a = assign[i];
      let u = upper[i] + move[a];
      if (u <= half[a]) {
        upper[i] = u;
        continue;
      }
      let tight = false;
      for (let j = 0; j < k; j++) {
        // Skip j when its lower bound (stored - drift) or the centroid gap already rules it out.
        if (j === a || u + drift[j] <= lower[lo + j] || u <= cc[a * k + j]) continue;
        if (!tight) {
          u = distance(x, i, c, a, d);
          lower[lo + a] = (u + drift[a]) * SHRINK;
          tight = true;
          if (u + drift[j] <= lower[lo + j] || u <= cc[a * k + j]) continue;
        }
        const dj = distance(x, i, c, j, d);
        lower[lo + j] = (dj + drift[j]) * SHRINK;
        if (dj < u || (dj === u && j < a)) {
          a = j;
          u = dj;
        }
      }
      upper[i] = u;
      if (a !== assign[i]) {
        assign[i] = a;
        changed++;
      }
    }
  }
  const dist = Float64Array.from({ length: n }, (_, i) => distance(x, i, c, assign[i], d) ** 2);
  return { centroids: c, assign, dist, iterations };
}

export interface ResidualKMeansResult {
  /** [n*levels] row-major: codes[i*levels + l]. */
  codes: Int32Array;
  levels: number;
  /** Per level, K_l = min(K, n). */
  codebookSizes: number[];
  /** Per level, mean over items of the squared norm of the residual left after that level. */
  residualMse: number[];
  /** Per level, Lloyd iterations run. */
  iterations: number[];
}

/** RQ-KMeans: `levels` rounds of k-means, each on the residual of the previous rounds. */
export function residualKMeans(
  x: Float32Array,
  n: number,
  d: number,
  levels: number,
  K: number,
  iters: number,
  rng: Rng,
  onLevel: (done: number) => void = () => {},
): ResidualKMeansResult {
  if (x.length !== n * d) throw new Error(`residualKMeans: x has ${x.length} values, expected n*d = ${n * d}`);
  if (n < 1) throw new Error('residualKMeans: no points');
  const r = Float64Array.from(x); // [n*d] running residual
  const codes = new Int32Array(n * levels);
  const codebookSizes: number[] = [];
  const residualMse: number[] = [];
  const iterations: number[] = [];
  for (let l = 0; l < levels; l++) {
    const k = Math.min(K, n);
    const km = kmeans(r, n, d, k, iters, rng);
    let sse = 0;
    for (let i = 0; i < n; i++) {
      const a = km.assign[i];
      codes[i * levels + l] = a;
      for (let t = 0; t < d; t++) {
        const v = r[i * d + t] - km.centroids[a * d + t];
        r[i * d + t] = v;
        sse += v * v;
      }
    }
    codebookSizes.push(k);
    residualMse.push(sse / n);
    iterations.push(km.iterations);
    onLevel(l + 1);
  }
  return { codes, levels, codebookSizes, residualMse, iterations };
}

/** Items in lexicographic order of their tuples (ties by item index). */
export function sortByTuple(codes: Int32Array, n: number, levels: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => {
    const ao = a * levels;
    const bo = b * levels;
    for (let l = 0; l < levels; l++) {
      const diff = codes[ao + l] - codes[bo + l];
      if (diff !== 0) return diff;
    }
    return a - b;
  });
}

/** Per level, distinct codes used / K_l. */
export function codebookUsage(codes: Int32Array, n: number, levels: number, codebookSizes: number[]): number[] {
  return codebookSizes.map((k, l) => {
    const seen = new Uint8Array(k);
    let used = 0;
    for (let i = 0; i < n; i++) {
      const c = codes[i * levels + l];
      if (!seen[c]) {
        seen[c] = 1;
        used++;
      }
    }
    return used / k;
  });
}

/** The dedup outcome: the final codes plus the SidStats fields that describe collisions and usage. */
export interface DedupResult
  extends Pick<SidStats, 'levels' | 'codebookSizes' | 'dedupLevel' | 'collisionRate' | 'maxCollisionGroup' | 'codebookUsage'> {
  /** [n*levels'] with levels' = levels + 1 when a dedup level was added. */
  codes: Int32Array;
}

/**
 * Make tuples unique: when some items share all codes, append one level whose code is the item's
 * rank (by item index) within its group of equal tuples; unique items get 0 there. That level's
 * codebook size is the largest group. With no collision, the codes are returned unchanged.
 */
export function dedup(codes: Int32Array, n: number, levels: number, codebookSizes: number[]): DedupResult {
  const order = sortByTuple(codes, n, levels);
  const rankInGroup = new Int32Array(n);
  let collided = 0;
  let maxGroup = n > 0 ? 1 : 0;
  let groupStart = 0;
  const sameTuple = (a: number, b: number) => {
    for (let l = 0; l < levels; l++) if (codes[a * levels + l] !== codes[b * levels + l]) return false;
    return true;
  };
  for (let p = 1; p <= n; p++) {
    if (p < n && sameTuple(order[p], order[groupStart])) {
      rankInGroup[order[p]] = p - groupStart;
      continue;
    }
    const size = p - groupStart;
    if (size > 1) collided += size;
    if (size > maxGroup) maxGroup = size;
    groupStart = p;
  }
  const collisionRate = n > 0 ? collided / n : 0;
  if (maxGroup <= 1) {
    return {
      codes,
      levels,
      codebookSizes: [...codebookSizes],
      dedupLevel: false,
      collisionRate,
      maxCollisionGroup: maxGroup,
      codebookUsage: codebookUsage(codes, n, levels, codebookSizes),
    };
  }
  const out = new Int32Array(n * (levels + 1));
  for (let i = 0; i < n; i++) {
    out.set(codes.subarray(i * levels, i * levels + levels), i * (levels + 1));
    out[i * (levels + 1) + levels] = rankInGroup[i];
  }
  const sizes = [...codebookSizes, maxGroup];
  return {
    codes: out,
    levels: levels + 1,
    codebookSizes: sizes,
    dedupLevel: true,
    collisionRate,
    maxCollisionGroup: maxGroup,
    codebookUsage: codebookUsage(out, n, levels + 1, sizes),
  };
}
