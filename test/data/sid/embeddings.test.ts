import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cfEmbeddings, cooccurrence, embedCf, embedText, latentEmbeddings, ppmi, textEmbeddings, tfidf, tokenize } from '../../../src/data/sid/embeddings.js';
import type { Csr } from '../../../src/data/sid/linalg.js';
import type { SyntheticTruth } from '../../../src/data/types.js';
import { Rng } from '../../../src/rng.js';

const seqs = (xs: number[][]) => xs.map((s) => Int32Array.from(s));
const close = (a: number, b: number, tol: number, msg?: string) => assert.ok(Math.abs(a - b) <= tol, `${msg ?? ''} ${a} vs ${b}`);

function dense(a: Csr): number[][] {
  const out = Array.from({ length: a.rows }, () => new Array<number>(a.cols).fill(0));
  for (let r = 0; r < a.rows; r++) for (let p = a.indptr[r]; p < a.indptr[r + 1]; p++) out[r][a.indices[p]] = a.values[p];
  return out;
}

function cosine(v: Float32Array, d: number, i: number, j: number): number {
  let dot = 0;
  let ni = 0;
  let nj = 0;
  for (let t = 0; t < d; t++) {
    dot += v[i * d + t] * v[j * d + t];
    ni += v[i * d + t] ** 2;
    nj += v[j * d + t] ** 2;
  }
  return dot / Math.sqrt(ni * nj);
}

test('cooccurrence counts pairs within the window, both directions', () => {
  // [0,1,2], window 1: (0,1), (1,2); [1,2]: (1,2) again; window 2 adds (0,2).
  assert.deepEqual(dense(cooccurrence(seqs([[0, 1, 2], [1, 2]]), 4, 1)), [
    [0, 1, 0, 0],
    [1, 0, 2, 0],
    [0, 2, 0, 0],
    [0, 0, 0, 0],
  ]);
  assert.deepEqual(dense(cooccurrence(seqs([[0, 1, 2], [1, 2]]), 3, 2))[0], [0, 1, 1]);
});

test('ppmi on a worked example', () => {
  // Counts from [0,1],[0,1],[1,2],[2,3] (window 1): c01 = 2, c12 = 1, c23 = 1, symmetric.
  // Row sums r = (2, 3, 2, 1), total 8. Without smoothing PMI(i,j) = log(c_ij * 8 / (r_i r_j)):
  //   PMI(0,1) = log(16/6) = log(8/3); PMI(1,2) = log(8/6) = log(4/3); PMI(2,3) = log(8/2) = log 4.
  const c = cooccurrence(seqs([[0, 1], [0, 1], [1, 2], [2, 3]]), 4, 1);
  const p = dense(ppmi(c, 1));
  close(p[0][1], Math.log(8 / 3), 1e-12);
  close(p[1][0], Math.log(8 / 3), 1e-12);
  close(p[1][2], Math.log(4 / 3), 1e-12);
  close(p[2][3], Math.log(4), 1e-12);
  // Smoothing 0.75: S = 2^.75 + 3^.75 + 2^.75 + 1 = 6.64309...; PMI(0,1) = log(2 S / (2 * 3^.75)) = 1.06960...
  const s = 2 * 2 ** 0.75 + 3 ** 0.75 + 1;
  close(dense(ppmi(c, 0.75))[0][1], Math.log(s / 3 ** 0.75), 1e-12);
  close(Math.log(s / 3 ** 0.75), 1.0696, 1e-4);
});

test('cfEmbeddings: items that co-occur are closer; no-co-occurrence items get a random unit vector', () => {
  // Two communities {0..4} and {5..9} never mixed; item 10 never in a training prefix (e.g. it is
  // only ever a valid/test target, which the caller leaves out: no leakage).
  const train: number[][] = [];
  for (let r = 0; r < 6; r++) {
    train.push([0, 1, 2, 3, 4].map((x) => (x + r) % 5));
    train.push([5, 6, 7, 8, 9].map((x) => 5 + ((x + 2 * r) % 5)));
  }
  const e = embedCf(seqs(train), 11, 4, new Rng(3), { window: 2 });
  assert.equal(e.coldItems, 1);
  for (let i = 0; i < 11; i++) close(Math.hypot(...e.vectors.subarray(i * 4, i * 4 + 4)), 1, 1e-6, `norm of ${i}`);
  let within = Infinity;
  let across = -Infinity;
  for (let i = 0; i < 10; i++)
    for (let j = i + 1; j < 10; j++) {
      const c = cosine(e.vectors, 4, i, j);
      if (i < 5 === j < 5) within = Math.min(within, c);
      else across = Math.max(across, c);
    }
  // The communities span orthogonal subspaces; within one, every pair is positively aligned.
  assert.ok(Math.abs(across) < 1e-6, `across-community cosine ${across}`);
  assert.ok(within > 0.2, `within-community cosine ${within}`);
  assert.deepEqual(cfEmbeddings(seqs(train), 11, 4, new Rng(3), { window: 2 }), e.vectors);
});

test('tokenize and tfidf drop rare and common terms', () => {
  assert.deepEqual(tokenize('Red-Lipstick, MATTE 24h!'), ['red', 'lipstick', 'matte', '24h']);
  // 'the' is in 4/4 items (> 0.5 * 4: dropped); 'x' and 'y' in one item each (< minDf 2: dropped).
  const { matrix, terms } = tfidf(['the red lipstick x', 'the red lipstick', 'the blue shampoo y', 'the blue shampoo']);
  assert.deepEqual(terms, ['red', 'lipstick', 'blue', 'shampoo']);
  // Item 0: red, lipstick each tf 1, df 2 -> equal weights, L2-normalised -> 1/sqrt2 each.
  assert.deepEqual(dense(matrix)[0].map((v) => +v.toFixed(6)), [0.707107, 0.707107, 0, 0]);
});

test('textEmbeddings group items by shared words; an item with no kept term is cold', () => {
  const text = [
    'red matte lipstick',
    'red lipstick gloss',
    'matte red lipstick long',
    'blue dry shampoo',
    'shampoo for dry hair blue',
    'dry shampoo hair',
    'zzz',
  ];
  const e = embedText(text, 2, new Rng(1));
  assert.equal(e.coldItems, 1);
  assert.ok(cosine(e.vectors, 2, 0, 1) > 0.9);
  assert.ok(cosine(e.vectors, 2, 3, 4) > 0.9);
  assert.ok(cosine(e.vectors, 2, 0, 3) < 0.1);
  assert.deepEqual(textEmbeddings(text, 2, new Rng(1)), e.vectors);
});

test('latentEmbeddings copies the true item vectors', () => {
  const truth = { dim: 2, itemVectors: Float32Array.from([1, 2, 3, 4]) } as SyntheticTruth;
  const v = latentEmbeddings(truth);
  assert.deepEqual(Array.from(v), [1, 2, 3, 4]);
  assert.notEqual(v, truth.itemVectors);
});
