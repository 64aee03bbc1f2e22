import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mean, meanCi, pairedTTest, sampleSd, tCdf, tQuantile } from '../src/stats.js';

const close = (a: number, b: number, tol = 1e-4) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b} (tol ${tol})`);

describe('t distribution', () => {
  it('quantiles match the tables', () => {
    close(tQuantile(0.975, 4), 2.7764); // t_{0.975,4}
    close(tQuantile(0.975, 2), 4.3027);
    close(tQuantile(0.975, 1), 12.7062);
  });

  it('CDF matches the closed forms for 1, 2 and 3 degrees of freedom', () => {
    // df 1 (Cauchy): F(t) = 1/2 + atan(t)/π.
    close(tCdf(2, 1), 0.5 + Math.atan(2) / Math.PI, 1e-9);
    // df 2: F(t) = 1/2 + t / (2 √(2 + t²)).
    close(tCdf(1.5, 2), 0.5 + 1.5 / (2 * Math.sqrt(2 + 1.5 ** 2)), 1e-9);
    // df 3: F(t) = 1/2 + [t/(√3 (1 + t²/3)) + atan(t/√3)] / π.
    close(tCdf(3 * Math.sqrt(3), 3), 0.5 + (3 / 10 + Math.atan(3)) / Math.PI, 1e-9);
  });
});

describe('meanCi', () => {
  it('[1,2,3,4,5]: 3 ± t_{0.975,4}·s/√5 = 3 ± 2.7764·1.5811/2.2361 = 3 ± 1.9632', () => {
    const ci = meanCi([1, 2, 3, 4, 5]);
    assert.equal(ci.n, 5);
    assert.equal(ci.mean, 3);
    close(ci.sd, Math.sqrt(2.5)); // Σ(x-3)² = 10, /4 = 2.5
    close(ci.half, 1.9632);
    close(ci.low, 1.0368);
    close(ci.high, 4.9632);
  });

  it('one value has a mean and no interval; equal values a zero-width one', () => {
    const one = meanCi([0.12]);
    assert.equal(one.mean, 0.12);
    assert.ok(Number.isNaN(one.half));
    assert.equal(meanCi([0.5, 0.5, 0.5]).half, 0);
    assert.ok(Number.isNaN(mean([])));
    assert.ok(Number.isNaN(sampleSd([1])));
  });
});

describe('pairedTTest', () => {
  it('four seeds, d = [0.01, 0.02, 0.01, 0.02]: t = 3√3, df 3, p = 0.013847', () => {
    // mean d = 0.015; s = √(4·0.005²/3) = 0.0057735; se = s/2 = 0.0028868; t = 0.015/0.0028868 = 5.19615 = 3√3.
    // df 3 closed form: F(3√3) = 1/2 + (3/10 + atan 3)/π = 0.5 + (0.3 + 1.2490458)/π = 0.9930766; p = 2(1 - F) = 0.0138468.
    // 95% CI: 0.015 ± t_{0.975,3}·se = 0.015 ± 3.1824·0.0028868 = 0.015 ± 0.0091870.
    const r = pairedTTest([0.12, 0.14, 0.13, 0.15], [0.11, 0.12, 0.12, 0.13]);
    assert.deepEqual(r.diffs.map((d) => Number(d.toFixed(10))), [0.01, 0.02, 0.01, 0.02]);
    close(r.mean, 0.015, 1e-12);
    close(r.t, 3 * Math.sqrt(3), 1e-9);
    assert.equal(r.df, 3);
    close(r.p, 0.0138468);
    close(r.half, 0.009187);
  });

  it('two seeds, d = [1, 3]: t = 2 on 1 df, p = 1 - 2·atan(2)/π = 0.2952', () => {
    // mean 2, s = √2, se = √2/√2 = 1, t = 2; Cauchy: p = 2(1/2 - atan(2)/π) = 1 - 0.7048 = 0.2952.
    const r = pairedTTest([3, 5], [2, 2]);
    close(r.t, 2, 1e-12);
    close(r.p, 0.2952);
    close(r.p, 1 - (2 * Math.atan(2)) / Math.PI, 1e-9);
  });

  it('a negative mean difference gives the same two-sided p as its mirror', () => {
    const a = pairedTTest([0.11, 0.12, 0.12, 0.13], [0.12, 0.14, 0.13, 0.15]);
    close(a.t, -3 * Math.sqrt(3), 1e-9);
    close(a.p, 0.0138468);
  });

  it('degenerate cases: one pair, no spread, mismatched lengths', () => {
    assert.ok(Number.isNaN(pairedTTest([1], [0]).p));
    assert.equal(pairedTTest([1, 2], [1, 2]).p, 1);
    assert.equal(pairedTTest([2, 3], [1, 2]).p, 0);
    assert.throws(() => pairedTTest([1, 2], [1]));
  });
});
