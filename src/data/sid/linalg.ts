/**
 * The small amount of linear algebra the item embeddings need, in plain typed arrays: a CSR
 * sparse matrix, sparse x dense products, Gram-Schmidt, a Jacobi eigensolver for small symmetric
 * matrices and a randomized truncated SVD (Halko, Martinsson & Tropp 2011, algorithm 4.4: range
 * finder with power iterations). Dense matrices are row-major Float64Array.
 */
import type { Rng } from '../../rng.js';

/** Compressed sparse rows, [rows x cols]: row r holds indices[indptr[r] .. indptr[r+1]). */
export interface Csr {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  values: Float64Array;
}

/** CSR from a dense row-major [rows*cols] matrix, dropping exact zeros (tests, small inputs). */
export function csrFromDense(dense: ArrayLike<number>, rows: number, cols: number): Csr {
  const indptr = new Int32Array(rows + 1);
  const idx: number[] = [];
  const val: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = dense[r * cols + c];
      if (v !== 0) {
        idx.push(c);
        val.push(v);
      }
    }
    indptr[r + 1] = idx.length;
  }
  return { rows, cols, indptr, indices: Int32Array.from(idx), values: Float64Array.from(val) };
}

/** out [rows*k] = A [rows x cols] @ X [cols*k]. */
export function spmm(a: Csr, x: Float64Array, k: number, out: Float64Array = new Float64Array(a.rows * k)): Float64Array {
  out.fill(0);
  const { indptr, indices, values } = a;
  for (let r = 0; r < a.rows; r++) {
    const ro = r * k;
    for (let p = indptr[r]; p < indptr[r + 1]; p++) {
      const v = values[p];
      const xo = indices[p] * k;
      for (let j = 0; j < k; j++) out[ro + j] += v * x[xo + j];
    }
  }
  return out;
}

/** out [cols*k] = A^T [cols x rows] @ X [rows*k], by scattering each row: no transpose is built. */
export function spmmT(a: Csr, x: Float64Array, k: number, out: Float64Array = new Float64Array(a.cols * k)): Float64Array {
  out.fill(0);
  const { indptr, indices, values } = a;
  for (let r = 0; r < a.rows; r++) {
    const xo = r * k;
    for (let p = indptr[r]; p < indptr[r + 1]; p++) {
      const v = values[p];
      const oo = indices[p] * k;
      for (let j = 0; j < k; j++) out[oo + j] += v * x[xo + j];
    }
  }
  return out;
}

/**
 * Orthonormalise the k columns of Y [m*k] in place: modified Gram-Schmidt, applied twice
 * ("twice is enough", Giraud et al. 2005) so the basis stays orthogonal to machine precision.
 * A column that is (numerically) in the span of the previous ones becomes zero.
 */
export function orthonormalizeColumns(y: Float64Array, m: number, k: number): void {
  // Column-major copy so each column is contiguous: [k][m].
  const cols = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) cols[j * m + i] = y[i * k + j];
  const origNorm = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += cols[j * m + i] ** 2;
    origNorm[j] = Math.sqrt(s);
  }
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < k; j++) {
      const jo = j * m;
      for (let p = 0; p < j; p++) {
        const po = p * m;
        let dot = 0;
        for (let i = 0; i < m; i++) dot += cols[po + i] * cols[jo + i];
        for (let i = 0; i < m; i++) cols[jo + i] -= dot * cols[po + i];
      }
      let s = 0;
      for (let i = 0; i < m; i++) s += cols[jo + i] ** 2;
      const norm = Math.sqrt(s);
      if (norm <= 1e-12 * Math.max(origNorm[j], 1e-300)) cols.fill(0, jo, jo + m);
      else for (let i = 0; i < m; i++) cols[jo + i] /= norm;
    }
  }
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) y[i * k + j] = cols[j * m + i];
}

/**
 * Eigen-decomposition of a small symmetric matrix A [n*n] by cyclic Jacobi rotations.
 * Returns eigenvalues in descending order and the eigenvectors as the columns of vectors [n*n].
 */
export function symmetricEigen(a: Float64Array, n: number, maxSweeps = 100): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        total += m[i * n + j] ** 2;
        if (i !== j) off += m[i * n + j] ** 2;
      }
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // Rotation angle that zeroes m[p][q] (Golub & Van Loan 8.5.2, stable form).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i] || i - j);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = m[src * n + src];
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

export interface SvdOptions {
  /** Extra random directions beyond k (Halko et al. recommend 5-10). */
  oversample?: number;
  /** Power iterations: each sharpens the spectrum's decay, needed when it decays slowly (PPMI, TF-IDF). */
  powerIters?: number;
}

export interface Svd {
  /** [rows*k] left singular vectors (columns). */
  u: Float64Array;
  /** [k] singular values, descending; zero past the matrix's rank. */
  s: Float64Array;
  /** [cols*k] right singular vectors (columns). */
  v: Float64Array;
  k: number;
}

/**
 * Top-k singular triplets of a sparse matrix. Cost: (2 + 2*powerIters) sparse products with
 * k+oversample columns, plus O((rows+cols) (k+p)^2). Signs are fixed so that the largest-magnitude
 * entry of each u column is positive, which makes the result a function of the rng alone.
 */
export function truncatedSvd(a: Csr, k: number, rng: Rng, opts: SvdOptions = {}): Svd {
  const { rows: m, cols: n } = a;
  const oversample = opts.oversample ?? 10;
  const powerIters = opts.powerIters ?? 2;
  const l = Math.max(1, Math.min(k + oversample, m, n));

  const omega = new Float64Array(n * l); // [n, l]
  for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
  const y = spmm(a, omega, l); // [m, l]
  orthonormalizeColumns(y, m, l);
  const z = new Float64Array(n * l); // [n, l]
  for (let q = 0; q < powerIters; q++) {
    spmmT(a, y, l, z);
    orthonormalizeColumns(z, n, l);
    spmm(a, z, l, y);
    orthonormalizeColumns(y, m, l);
  }
  // B = Q^T A [l, n], kept as its transpose Bt = A^T Q [n, l]; B B^T = W diag(s^2) W^T.
  const bt = spmmT(a, y, l, z);
  const g = new Float64Array(l * l);
  for (let r = 0; r < n; r++) {
    const ro = r * l;
    for (let i = 0; i < l; i++) {
      const bi = bt[ro + i];
      if (bi === 0) continue;
      for (let j = i; j < l; j++) g[i * l + j] += bi * bt[ro + j];
    }
  }
  for (let i = 0; i < l; i++) for (let j = 0; j < i; j++) g[i * l + j] = g[j * l + i];
  const { values, vectors: w } = symmetricEigen(g, l);

  const kk = Math.min(k, l);
  const s = new Float64Array(k);
  for (let j = 0; j < kk; j++) s[j] = Math.sqrt(Math.max(values[j], 0));
  // U = Q W [m, k]; V = Bt W / s [n, k]; columns past the rank stay zero.
  const u = new Float64Array(m * k);
  const v = new Float64Array(n * k);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < kk; j++) {
      let acc = 0;
      for (let t = 0; t < l; t++) acc += y[i * l + t] * w[t * l + j];
      u[i * k + j] = acc;
    }
  const tiny = 1e-12 * (s[0] || 1);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < kk; j++) {
      if (s[j] <= tiny) continue;
      let acc = 0;
      for (let t = 0; t < l; t++) acc += bt[i * l + t] * w[t * l + j];
      v[i * k + j] = acc / s[j];
    }
  for (let j = 0; j < kk; j++) {
    if (s[j] <= tiny) {
      s[j] = 0;
      for (let i = 0; i < m; i++) u[i * k + j] = 0;
      continue;
    }
    let big = 0;
    for (let i = 0; i < m; i++) if (Math.abs(u[i * k + j]) > Math.abs(big)) big = u[i * k + j];
    if (big < 0) {
      for (let i = 0; i < m; i++) u[i * k + j] = -u[i * k + j];
      for (let i = 0; i < n; i++) v[i * k + j] = -v[i * k + j];
    }
  }
  return { u, s, v, k };
}
