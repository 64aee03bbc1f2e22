/**
 * Statistics over seeds (the review's complaint: no seeds, no intervals): the mean with a
 * two-sided t-distribution confidence interval, and the paired t-test of two configurations
 * run on the same seeds. Pure functions; jstat supplies Student's t CDF and quantile.
 */
import jStat from 'jstat';

/**
 * The mean of the finite values. The one NaN policy of the project: a NaN (or ±Inf) is a value
 * that could not be computed (a metric with no defined value for a sample, a diagnostic of an
 * empty set), so it is left out, not counted as zero; NaN when no finite value remains.
 */
export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) continue;
    s += xs[i];
    n++;
  }
  return n > 0 ? s / n : Number.NaN;
}

/** Sample standard deviation (n - 1 in the denominator) of the finite values; NaN below two of them. */
export function sampleSd(xs: readonly number[]): number {
  const fin = xs.filter(Number.isFinite);
  if (fin.length < 2) return NaN;
  const m = mean(fin);
  return Math.sqrt(fin.reduce((s, x) => s + (x - m) ** 2, 0) / (fin.length - 1));
}

/** The p-quantile of Student's t with df degrees of freedom (t_{0.975,4} = 2.776). */
export function tQuantile(p: number, df: number): number {
  return jStat.studentt.inv(p, df);
}

/** P(T <= t) for Student's t with df degrees of freedom. */
export function tCdf(t: number, df: number): number {
  return jStat.studentt.cdf(t, df);
}

export interface MeanCi {
  n: number;
  mean: number;
  sd: number;
  /** Half-width of the interval: t_{(1+level)/2, n-1} · sd / √n; NaN when n < 2. */
  half: number;
  low: number;
  high: number;
}

/** Mean and two-sided `level` confidence interval of the mean, t distribution with n-1 df. */
export function meanCi(values: readonly number[], level = 0.95): MeanCi {
  const xs = values.filter(Number.isFinite);
  const n = xs.length;
  const m = mean(xs);
  const sd = sampleSd(xs);
  const half = n < 2 ? NaN : sd === 0 ? 0 : (tQuantile((1 + level) / 2, n - 1) * sd) / Math.sqrt(n);
  return { n, mean: m, sd, half, low: m - half, high: m + half };
}

export interface PairedTest extends MeanCi {
  /** Per-pair differences a_i - b_i, in the order given. */
  diffs: number[];
  /** t = mean(d) / (sd(d) / √n); ±Infinity when every difference is equal and non-zero. */
  t: number;
  df: number;
  /** Two-sided p-value 2·(1 - F_{n-1}(|t|)); NaN when n < 2. */
  p: number;
}

/**
 * Paired t-test of a against b (same seeds, same order): the interval is on the mean difference.
 * Zero spread is handled explicitly (the t statistic is then undefined): all differences 0 gives
 * p = 1, all equal and non-zero gives p = 0.
 */
export function pairedTTest(a: readonly number[], b: readonly number[], level = 0.95): PairedTest {
  if (a.length !== b.length) throw new Error(`pairedTTest: ${a.length} vs ${b.length} values; pairs must match`);
  const diffs = a.map((x, i) => x - b[i]);
  const ci = meanCi(diffs, level);
  const n = diffs.length;
  const df = n - 1;
  if (n < 2) return { ...ci, diffs, t: NaN, df, p: NaN };
  if (ci.sd === 0) return { ...ci, diffs, t: ci.mean === 0 ? 0 : Math.sign(ci.mean) * Infinity, df, p: ci.mean === 0 ? 1 : 0 };
  const t = ci.mean / (ci.sd / Math.sqrt(n));
  const p = Math.min(1, 2 * (1 - tCdf(Math.abs(t), df)));
  return { ...ci, diffs, t, df, p };
}
