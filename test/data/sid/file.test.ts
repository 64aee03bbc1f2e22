import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Catalog } from '../../../src/data/sid/catalog.js';
import { loadSidFile } from '../../../src/data/sid/file.js';
import { UserError } from '../../../src/errors.js';
import { tmpDir, writeFile } from '../../helpers/tmp.js';

const dir = tmpDir('adagrpo-sidfile-');

/** Assert a UserError whose message names the file and matches every pattern. */
function throwsUser(f: () => unknown, file: string, ...patterns: RegExp[]) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof UserError, `not a UserError: ${e}`);
    assert.ok(e.message.includes(path.basename(file)), `no file name in: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('an index.json maps external ids to tuples; every item round-trips', () => {
  const file = writeFile(
    dir,
    'ok.index.json',
    JSON.stringify({
      x: ['<a_3>', '<b_0>', '<c_7>'],
      y: ['<a_3>', '<b_1>', '<c_7>'],
      z: ['<a_0>', '<b_255>', '<c_2>'],
      extra: ['<a_1>', '<b_1>', '<c_1>'],
    }),
  );
  // Dataset item order differs from the file's: item 0 = "z", 1 = "x", 2 = "y".
  const { sids, extraItems } = loadSidFile(file, ['z', 'x', 'y']);
  assert.equal(extraItems, 1);
  assert.equal(sids.levels, 3);
  assert.deepEqual(sids.codebookSizes, [256, 256, 256]); // every code < 256
  assert.deepEqual(Array.from(sids.codes), [0, 255, 2, 3, 0, 7, 3, 1, 7]);
  assert.deepEqual(sids.stats, {
    method: 'file',
    embedding: null,
    levels: 3,
    codebookSizes: [256, 256, 256],
    dedupLevel: false,
    collisionRate: 0,
    maxCollisionGroup: 1,
    codebookUsage: [2 / 256, 3 / 256, 2 / 256],
  });
  const cat = new Catalog(sids);
  for (let i = 0; i < 3; i++) assert.equal(cat.lookup(cat.tupleOf(i)), i);
  assert.equal(cat.lookup([3, 0, 2]), -1);
});

test('codes past 255 set K = max + 1; colliding tuples get the dedup level', () => {
  const file = writeFile(dir, 'big.index.json', JSON.stringify({ p: ['<a_300>', '<b_1>'], q: ['<a_300>', '<b_1>'], r: ['<a_2>', '<b_1>'] }));
  const { sids } = loadSidFile(file, ['p', 'q', 'r']);
  // p and q collide: dedup codes 0, 1 (by item index); r alone: 0.
  assert.deepEqual(sids.codebookSizes, [301, 256, 2]);
  assert.deepEqual(Array.from(sids.codes), [300, 1, 0, 300, 1, 1, 2, 1, 0]);
  assert.equal(sids.stats.dedupLevel, true);
  assert.equal(sids.stats.collisionRate, 2 / 3);
  assert.equal(sids.stats.maxCollisionGroup, 2);
});

test('file errors are UserErrors naming the file, the item and the token', () => {
  throwsUser(() => loadSidFile(path.join(dir, 'nope.index.json'), ['a']), 'nope.index.json', /not found/, /sid\.file/);
  const bad = writeFile(dir, 'bad.index.json', '{\n  "a": ["<a_1>", "<b_2>"],\n  "b": ["<a_1>" "<b_3>"]\n}');
  throwsUser(() => loadSidFile(bad, ['a']), bad, /malformed JSON/, /bad\.index\.json:3:\d+/);
  // A truncated file: JSON.parse gives no position, the shared scanner still finds line and column.
  const cut = writeFile(dir, 'cut.index.json', '{\n  "a": ["<a_1>",');
  throwsUser(() => loadSidFile(cut, ['a']), cut, /malformed JSON/, /cut\.index\.json:2:\d+/);
  // A byte-order mark is not a syntax error.
  const bom = writeFile(dir, 'bom.index.json', '\uFEFF' + JSON.stringify({ a: ['<a_1>', '<b_2>'] }));
  assert.deepEqual(Array.from(loadSidFile(bom, ['a']).sids.codes.subarray(0, 2)), [1, 2]);
  const tok = writeFile(dir, 'tok.index.json', '{\n  "a": ["<a_1>", "<b_2>"],\n  "b": ["<a_1>", "<b_x>"]\n}');
  throwsUser(() => loadSidFile(tok, ['a', 'b']), tok, /tok\.index\.json:3/, /item "b"/, /"<b_x>"/, /position 2/);
  const order = writeFile(dir, 'order.index.json', JSON.stringify({ a: ['<b_1>', '<a_2>'] }));
  throwsUser(() => loadSidFile(order, ['a']), order, /item "a"/, /"<b_1>"/, /expected level "a"/);
  const ragged = writeFile(dir, 'ragged.index.json', JSON.stringify({ a: ['<a_1>', '<b_2>'], b: ['<a_1>'] }));
  throwsUser(() => loadSidFile(ragged, ['a', 'b']), ragged, /item "b" has 1 tokens but item "a" has 2/);
  const notObj = writeFile(dir, 'list.index.json', '[1, 2]');
  throwsUser(() => loadSidFile(notObj, ['a']), notObj, /JSON object/);
});

test('items of the dataset missing from the index: count and examples', () => {
  const file = writeFile(dir, 'partial.index.json', JSON.stringify({ a: ['<a_1>'], b: ['<a_2>'] }));
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
  throwsUser(() => loadSidFile(file, ids), file, /7 of the dataset's 9 items have no semantic ID/, /e\.g\. "c", "d", "e", "f", "g", \.\.\./);
});
