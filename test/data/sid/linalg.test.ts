import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csrFromDense, orthonormalizeColumns, spmm, spmmT, symmetricEigen, truncatedSvd } from '../../../src/data/sid/linalg.js';
import { Rng } from '../../../src/rng.js';

const close = (a: number, b: number, tol: number, msg?: string) => assert.ok(Math.abs(a - b) <= tol, `${msg ?? ''} ${a} vs ${b}`);

test('spmm / spmmT on a hand example', () => {
  // A = [[1, 0, 2], [0, 3, 0]]; X = [[1], [2], [3]] -> A X = [[7], [6]]; A^T [[1], [1]] = [[1], [3], [2]].
  const a = csrFromDense([1, 0, 2, 0, 3, 0], 2, 3);
  assert.deepEqual(Array.from(a.indptr), [0, 2, 3]);
  assert.deepEqual(Array.from(spmm(a, Float64Array.from([1, 2, 3]), 1)), [7, 6]);
  assert.deepEqual(Array.from(spmmT(a, Float64Array.from([1, 1]), 1)), [1, 3, 2]);
});

test('symmetricEigen: [[2,1],[1,2]] has eigenvalues 3 and 1, eigenvectors (1,1)/sqrt2 and (1,-1)/sqrt2', () => {
  const { values, vectors } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  close(values[0], 3, 1e-12);
  close(values[1], 1, 1e-12);
  close(Math.abs(vectors[0]), Math.SQRT1_2, 1e-12); // column 0 = (v00, v10)
  close(vectors[0] * vectors[2], 0.5, 1e-12); // same sign: (1,1)
  close(vectors[1] * vectors[3], -0.5, 1e-12); // opposite signs: (1,-1)
});

test('orthonormalizeColumns gives Q^T Q = I and zeroes a dependent column', () => {
  // Columns: (1,1,0,0), (2,2,0,0) (dependent), (1,0,1,0).
  const y = Float64Array.from([1, 2, 1, 1, 2, 0, 0, 0, 1, 0, 0, 0]);
  orthonormalizeColumns(y, 4, 3);
  const col = (j: number) => [0, 1, 2, 3].map((i) => y[i * 3 + j]);
  const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
  close(dot(col(0), col(0)), 1, 1e-12);
  assert.deepEqual(col(1), [0, 0, 0, 0]);
  close(dot(col(2), col(2)), 1, 1e-12);
  close(dot(col(0), col(2)), 0, 1e-12);
});

test('truncatedSvd: [[3,0],[4,5]] has singular values 3*sqrt5 and sqrt5 and is rebuilt by U S V^T', () => {
  // A^T A = [[25,20],[20,25]], eigenvalues 45 and 5 -> sigma = sqrt45 = 6.7082039..., sqrt5 = 2.2360679...
  const dense = [3, 0, 4, 5];
  const svd = truncatedSvd(csrFromDense(dense, 2, 2), 2, new Rng(1));
  close(svd.s[0], 3 * Math.sqrt(5), 1e-10);
  close(svd.s[1], Math.sqrt(5), 1e-10);
  for (let r = 0; r < 2; r++)
    for (let c = 0; c < 2; c++) {
      let v = 0;
      for (let j = 0; j < 2; j++) v += svd.u[r * 2 + j] * svd.s[j] * svd.v[c * 2 + j];
      close(v, dense[r * 2 + c], 1e-10, `A[${r}][${c}]`);
    }
});

/** Householder reflection H = I - 2 w w^T / w^T w [n*n]: orthogonal, so H1 diag(s) H2 has singular values s. */
function householder(w: number[]): number[][] {
  const ww = w.reduce((s, v) => s + v * v, 0);
  return w.map((wi, i) => w.map((wj, j) => (i === j ? 1 : 0) - (2 * wi * wj) / ww));
}

test('truncatedSvd recovers the top 3 of a known spectrum (30x20, sigma = 10, 7, 5, 3, 1, then 0.5/(i-3))', () => {
  const m = 30;
  const n = 20;
  const sigma = Array.from({ length: n }, (_, i) => [10, 7, 5, 3, 1][i] ?? 0.5 / (i - 3));
  const h1 = householder(Array.from({ length: m }, (_, i) => 1 + i));
  const h2 = householder(Array.from({ length: n }, (_, i) => (i % 3) - 1 + 0.5));
  // A = H1[:, :n] diag(sigma) H2^T
  const dense = new Float64Array(m * n);
  for (let r = 0; r < m; r++)
    for (let c = 0; c < n; c++) {
      let v = 0;
      for (let j = 0; j < n; j++) v += h1[r][j] * sigma[j] * h2[c][j];
      dense[r * n + c] = v;
    }
  const svd = truncatedSvd(csrFromDense(dense, m, n), 3, new Rng(7), { oversample: 5, powerIters: 2 });
  close(svd.s[0], 10, 1e-8);
  close(svd.s[1], 7, 1e-8);
  close(svd.s[2], 5, 1e-8);
  // Each u column is +-the first columns of H1 (sign fixed: largest-magnitude entry positive).
  for (let j = 0; j < 3; j++) {
    let dot = 0;
    for (let r = 0; r < m; r++) dot += svd.u[r * 3 + j] * h1[r][j];
    close(Math.abs(dot), 1, 1e-8, `u column ${j}`);
  }
  // Deterministic for a seed.
  assert.deepEqual(truncatedSvd(csrFromDense(dense, m, n), 3, new Rng(7), { oversample: 5, powerIters: 2 }).u, svd.u);
});

test('truncatedSvd: k above the rank gives exact zeros past it', () => {
  // Rank 1: [[1,2],[2,4],[3,6]] = (1,2,3)^T (1,2); sigma = |(1,2,3)| |(1,2)| = sqrt14 sqrt5 = sqrt70.
  const svd = truncatedSvd(csrFromDense([1, 2, 2, 4, 3, 6], 3, 2), 2, new Rng(3));
  close(svd.s[0], Math.sqrt(70), 1e-10);
  assert.equal(svd.s[1], 0);
  assert.deepEqual([0, 1, 2].map((r) => svd.u[r * 2 + 1]), [0, 0, 0]);
});
