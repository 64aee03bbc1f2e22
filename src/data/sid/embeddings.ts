/**
 * Item embeddings that rq-kmeans clusters into semantic IDs (docs/METHOD.md 2.1). Each returns a
 * Float32Array [I*dim] row-major.
 *
 * - cf: PPMI of item co-occurrence within a window of the training prefixes (never the valid or
 *   test items), then a truncated SVD; item vector = U S^(1/2) (the symmetric weighting that
 *   works best for word vectors, Levy, Goldberg & Dagan 2015), L2-normalised so k-means clusters
 *   directions, not popularity (a frequent item's raw vector is longer).
 * - text: TF-IDF of the item's lower-cased word tokens, very rare and very common terms dropped,
 *   then a truncated SVD; item vector = U S (latent semantic analysis), L2-normalised.
 * - latent: the synthetic world's true item vectors, unchanged.
 *
 * Items with no signal (no training co-occurrence, or no kept term) get a random unit-norm
 * direction: nothing says where they belong, and a unit norm makes each land in some cluster at
 * every level like any other item. (A near-zero vector does not work: its residual stays near
 * zero, so all such items share one code at every level and collide as one big group; measured
 * on Beauty, the 33 cold items formed one 33-item collision group.)
 */
import type { Rng } from '../../rng.js';
import type { SyntheticTruth } from '../types.js';
import { truncatedSvd, type Csr, type SvdOptions } from './linalg.js';

export interface CfOptions extends SvdOptions {
  /** Two items co-occur when at most this many positions apart in one training prefix. */
  window?: number;
  /** Context-distribution smoothing exponent of PPMI (Levy et al.: 0.75 dampens rare-item PMI). */
  smoothing?: number;
}

export interface EmbeddingResult {
  /** [I*dim] row-major. */
  vectors: Float32Array;
  dim: number;
  /** Items given a random direction because they had no signal. */
  coldItems: number;
  /** Top singular values of the factored matrix, [dim]. */
  singularValues: Float64Array;
}

/**
 * Symmetric co-occurrence counts [I x I]: c(i,j) = number of times j is within `window` positions
 * of i in one user's training prefix. Built by counting, filling and then sorting each row
 * in place, so the cost is linear in the number of pairs (about 2*window per interaction).
 */
export function cooccurrence(train: Int32Array[], numItems: number, window: number): Csr {
  const rowLen = new Int32Array(numItems + 1);
  let pairs = 0;
  for (const seq of train) {
    for (let p = 0; p < seq.length; p++) {
      const hi = Math.min(seq.length - 1, p + window);
      for (let q = p + 1; q <= hi; q++) {
        if (seq[p] === seq[q]) continue;
        rowLen[seq[p] + 1]++;
        rowLen[seq[q] + 1]++;
        pairs += 2;
      }
    }
  }
  for (let i = 0; i < numItems; i++) rowLen[i + 1] += rowLen[i];
  const start = rowLen; // prefix sums: row i occupies [start[i], start[i+1]) of cols
  const fill = Int32Array.from(start.subarray(0, numItems));
  const cols = new Int32Array(pairs);
  for (const seq of train) {
    for (let p = 0; p < seq.length; p++) {
      const hi = Math.min(seq.length - 1, p + window);
      for (let q = p + 1; q <= hi; q++) {
        const a = seq[p];
        const b = seq[q];
        if (a === b) continue;
        cols[fill[a]++] = b;
        cols[fill[b]++] = a;
      }
    }
  }
  // Sort each row and merge duplicates into counts.
  const indptr = new Int32Array(numItems + 1);
  const indices = new Int32Array(pairs);
  const values = new Float64Array(pairs);
  let nnz = 0;
  for (let i = 0; i < numItems; i++) {
    const row = cols.subarray(start[i], start[i + 1]).sort();
    for (let p = 0; p < row.length; p++) {
      if (p > 0 && row[p] === row[p - 1]) values[nnz - 1] += 1;
      else {
        indices[nnz] = row[p];
        values[nnz] = 1;
        nnz++;
      }
    }
    indptr[i + 1] = nnz;
  }
  return { rows: numItems, cols: numItems, indptr, indices: indices.slice(0, nnz), values: values.slice(0, nnz) };
}

/**
 * Positive PMI of a count matrix, with context smoothing a:
 * PPMI(i,j) = max(0, log( c(i,j) * sum_j' c_j'^a / (c_i * c_j^a) )), c_i = row sum, c_j = column sum.
 * Entries that come out zero are kept as explicit zeros (harmless for the products).
 */
export function ppmi(counts: Csr, smoothing = 0.75): Csr {
  const { rows, cols, indptr, indices, values } = counts;
  const rowSum = new Float64Array(rows);
  const colSum = new Float64Array(cols);
  for (let r = 0; r < rows; r++)
    for (let p = indptr[r]; p < indptr[r + 1]; p++) {
      rowSum[r] += values[p];
      colSum[indices[p]] += values[p];
    }
  const colPow = new Float64Array(cols);
  let colPowSum = 0;
  for (let c = 0; c < cols; c++) {
    colPow[c] = colSum[c] > 0 ? colSum[c] ** smoothing : 0;
    colPowSum += colPow[c];
  }
  const out = new Float64Array(values.length);
  for (let r = 0; r < rows; r++)
    for (let p = indptr[r]; p < indptr[r + 1]; p++) {
      const pmi = Math.log((values[p] * colPowSum) / (rowSum[r] * colPow[indices[p]]));
      out[p] = pmi > 0 ? pmi : 0;
    }
  return { rows, cols, indptr, indices, values: out };
}

/**
 * Item vectors from the SVD's left factor, U S^power, each row L2-normalised; rows with no
 * signal (hasSignal[i] = 0) get a random unit vector instead.
 */
function rowsFromSvd(
  u: Float64Array,
  s: Float64Array,
  numItems: number,
  dim: number,
  power: number,
  hasSignal: Uint8Array,
  rng: Rng,
): { vectors: Float32Array; coldItems: number } {
  const vectors = new Float32Array(numItems * dim);
  const scale = Float64Array.from(s, (x) => x ** power);
  const row = new Float64Array(dim);
  let coldItems = 0;
  for (let i = 0; i < numItems; i++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      row[j] = u[i * dim + j] * scale[j];
      norm += row[j] * row[j];
    }
    norm = Math.sqrt(norm);
    if (!hasSignal[i] || norm <= 1e-12) {
      coldItems++;
      norm = 0;
      for (let j = 0; j < dim; j++) {
        row[j] = rng.normal();
        norm += row[j] * row[j];
      }
      norm = Math.sqrt(norm);
    }
    for (let j = 0; j < dim; j++) vectors[i * dim + j] = row[j] / norm;
  }
  return { vectors, coldItems };
}

/** cf embeddings with their diagnostics; see the file comment. */
export function embedCf(train: Int32Array[], numItems: number, dim: number, rng: Rng, opts: CfOptions = {}): EmbeddingResult {
  const counts = cooccurrence(train, numItems, opts.window ?? 5);
  const m = ppmi(counts, opts.smoothing ?? 0.75);
  const hasSignal = new Uint8Array(numItems);
  for (let i = 0; i < numItems; i++)
    for (let p = m.indptr[i]; p < m.indptr[i + 1]; p++) if (m.values[p] > 0) hasSignal[i] = 1;
  const svd = truncatedSvd(m, dim, rng, opts);
  const { vectors, coldItems } = rowsFromSvd(svd.u, svd.s, numItems, dim, 0.5, hasSignal, rng);
  return { vectors, dim, coldItems, singularValues: svd.s };
}

export function cfEmbeddings(train: Int32Array[], numItems: number, dim: number, rng: Rng, opts: CfOptions = {}): Float32Array {
  return embedCf(train, numItems, dim, rng, opts).vectors;
}

export interface TextOptions extends SvdOptions {
  /** Drop terms found in fewer items than this. */
  minDf?: number;
  /** Drop terms found in more than this share of items. */
  maxDfRatio?: number;
}

/** Lower-cased runs of letters and digits (any script). */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * TF-IDF matrix [I x V] over the kept terms: tf = 1 + log(count), idf = log((1+I)/(1+df)) + 1
 * (scikit-learn's smoothed idf), rows L2-normalised. Returns the number of kept terms too.
 */
export function tfidf(itemText: string[], opts: TextOptions = {}): { matrix: Csr; terms: string[] } {
  const n = itemText.length;
  const minDf = opts.minDf ?? 2;
  const maxDf = (opts.maxDfRatio ?? 0.5) * n;
  const termId = new Map<string, number>();
  const df: number[] = [];
  const docs: Map<number, number>[] = itemText.map((text) => {
    const counts = new Map<number, number>();
    for (const tok of tokenize(text ?? '')) {
      let id = termId.get(tok);
      if (id === undefined) {
        id = termId.size;
        termId.set(tok, id);
        df.push(0);
      }
      const c = counts.get(id) ?? 0;
      if (c === 0) df[id]++;
      counts.set(id, c + 1);
    }
    return counts;
  });
  // Kept terms renumbered in order of first appearance.
  const keep = new Int32Array(df.length).fill(-1);
  const terms: string[] = [];
  for (const [tok, id] of termId) {
    if (df[id] >= minDf && df[id] <= maxDf) {
      keep[id] = terms.length;
      terms.push(tok);
    }
  }
  const indptr = new Int32Array(n + 1);
  const idx: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < n; i++) {
    const row: [number, number][] = [];
    for (const [id, c] of docs[i]) {
      if (keep[id] < 0) continue;
      row.push([keep[id], (1 + Math.log(c)) * (Math.log((1 + n) / (1 + df[id])) + 1)]);
    }
    row.sort((a, b) => a[0] - b[0]);
    const norm = Math.sqrt(row.reduce((s, [, v]) => s + v * v, 0));
    for (const [c, v] of row) {
      idx.push(c);
      val.push(v / norm);
    }
    indptr[i + 1] = idx.length;
  }
  return {
    matrix: { rows: n, cols: terms.length, indptr, indices: Int32Array.from(idx), values: Float64Array.from(val) },
    terms,
  };
}

/** text embeddings with their diagnostics; see the file comment. */
export function embedText(itemText: string[], dim: number, rng: Rng, opts: TextOptions = {}): EmbeddingResult {
  const n = itemText.length;
  const { matrix } = tfidf(itemText, opts);
  const hasSignal = new Uint8Array(n);
  for (let i = 0; i < n; i++) hasSignal[i] = matrix.indptr[i + 1] > matrix.indptr[i] ? 1 : 0;
  if (matrix.cols === 0) {
    const { vectors, coldItems } = rowsFromSvd(new Float64Array(n * dim), new Float64Array(dim), n, dim, 1, hasSignal, rng);
    return { vectors, dim, coldItems, singularValues: new Float64Array(dim) };
  }
  const svd = truncatedSvd(matrix, dim, rng, opts);
  const { vectors, coldItems } = rowsFromSvd(svd.u, svd.s, n, dim, 1, hasSignal, rng);
  return { vectors, dim, coldItems, singularValues: svd.s };
}

export function textEmbeddings(itemText: string[], dim: number, rng: Rng, opts: TextOptions = {}): Float32Array {
  return embedText(itemText, dim, rng, opts).vectors;
}

/** The synthetic world's true item vectors [I*truth.dim] (a copy: callers may not share it). */
export function latentEmbeddings(truth: SyntheticTruth): Float32Array {
  return Float32Array.from(truth.itemVectors);
}
