import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../../../src/data/sid/catalog.js';
import { dedup, residualKMeans } from '../../../src/data/sid/rqkmeans.js';
import { Rng } from '../../../src/rng.js';

const NEG = -Infinity;

/** Items 0:(0,1) 1:(0,2) 2:(1,0) 3:(2,2), K = (3, 3). Trie: 0 -> {1, 2}, 1 -> {0}, 2 -> {2}. */
function handCatalog(): Catalog {
  return new Catalog({ levels: 2, codebookSizes: [3, 3], codes: Int32Array.from([0, 1, 0, 2, 1, 0, 2, 2]) });
}

test('Catalog: lookup, tupleOf and -1 for a hallucination', () => {
  const c = handCatalog();
  assert.equal(c.numItems, 4);
  assert.equal(c.lookup([0, 2]), 1);
  assert.equal(c.lookup([2, 2]), 3);
  assert.equal(c.lookup([1, 1]), -1); // valid prefix, no item
  assert.equal(c.lookup([9, 0]), -1); // out-of-range code
  assert.equal(c.lookup([0]), -1); // too short
  assert.equal(c.lookup(Int32Array.from([7, 1, 0]), 1), 2); // with an offset into a buffer
  for (let i = 0; i < 4; i++) assert.equal(c.lookup(c.tupleOf(i)), i);
});

test('Catalog trie: allowedNext per prefix', () => {
  const c = handCatalog();
  assert.deepEqual(Array.from(c.allowedNext([])), [0, 1, 2]);
  assert.deepEqual(Array.from(c.allowedNext([0])), [1, 2]);
  assert.deepEqual(Array.from(c.allowedNext([1])), [0]);
  assert.deepEqual(Array.from(c.allowedNext([2])), [2]);
  assert.deepEqual(Array.from(c.allowedNext([5])), []); // not a prefix of any item
  assert.deepEqual(Array.from(c.allowedNext([0, 1])), []); // a complete tuple: nothing follows
});

test('Catalog trie: nextMask is 0 for allowed codes and -Infinity elsewhere', () => {
  const c = handCatalog();
  assert.deepEqual(Array.from(c.nextMask(new Int32Array(0), 2, 0)), [0, 0, 0, 0, 0, 0]);
  // Prefixes (0), (1), (2), (5): rows {1,2}, {0}, {2}, none.
  assert.deepEqual(Array.from(c.nextMask(Int32Array.from([0, 1, 2, 5]), 4, 1)), [
    NEG, 0, 0,
    0, NEG, NEG,
    NEG, NEG, 0,
    NEG, NEG, NEG,
  ]);
  assert.throws(() => c.nextMask(new Int32Array(0), 1, 2), RangeError);
});

test('Catalog rejects shared tuples and out-of-range codes', () => {
  assert.throws(() => new Catalog({ levels: 2, codebookSizes: [2, 2], codes: Int32Array.from([0, 1, 0, 1]) }), /share a tuple/);
  assert.throws(() => new Catalog({ levels: 2, codebookSizes: [2, 2], codes: Int32Array.from([0, 2]) }), /outside/);
});

test('every rq-kmeans item ID round-trips item -> tuple -> item, and the trie agrees with lookup', () => {
  const rng = new Rng(11);
  const n = 400;
  // Clumpy data so some tuples collide and the dedup level is exercised.
  const x = Float32Array.from({ length: n * 3 }, (_, i) => Math.round(rng.normal() * 2) / 2 + (i % 3));
  const rq = residualKMeans(x, n, 3, 2, 6, 15, new Rng(1));
  const d = dedup(rq.codes, n, 2, rq.codebookSizes);
  assert.ok(d.dedupLevel, 'the test data should collide');
  const c = new Catalog(d);
  for (let i = 0; i < n; i++) assert.equal(c.lookup(c.tupleOf(i)), i);
  // Walking the trie with allowedNext from the root enumerates exactly the n items.
  let leaves = 0;
  const walk = (prefix: number[]) => {
    if (prefix.length === d.levels) {
      assert.ok(c.lookup(prefix) >= 0);
      leaves++;
      return;
    }
    for (const code of c.allowedNext(prefix)) walk([...prefix, code]);
  };
  walk([]);
  assert.equal(leaves, n);
  // A tuple that is no item: some valid first two codes with a dedup code past its group.
  assert.equal(c.lookup([c.tupleOf(0)[0], c.tupleOf(0)[1], d.codebookSizes[2]]), -1);
});
