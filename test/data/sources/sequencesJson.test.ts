import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSequencesJson } from '../../../src/data/sources/sequencesJson.js';
import { logToDataset } from '../../../src/data/sources/raw.js';
import { jsonErrorOffset } from '../../../src/io/json.js';
import { UserError } from '../../../src/errors.js';
import { tmpDir, writeFile } from '../../helpers/tmp.js';

test('sequences-json: the LC-Rec/LETTER layout, pretty-printed, with item.json text', () => {
  const dir = tmpDir();
  // Same layout as Beauty.inter.json (pretty, one id per line) and Scientific.item.json.
  const inter = writeFile(dir, 'T.inter.json', JSON.stringify({ '0': [0, 1, 2], '1': [2, 3, 1, 0], '2': [3, 2, 1] }, null, 4));
  const item = writeFile(
    dir,
    'T.item.json',
    JSON.stringify({
      '0': { title: 'Lipstick.', description: 'Red.', brand: 'Acme', categories: 'Beauty,Makeup' },
      '1': { title: 'Soap.', description: '', brand: '', categories: '' },
      '3': 'plain string text',
    }),
  );
  const src = readSequencesJson(inter, item);
  const ds = logToDataset(src.log, { name: 'T', source: 'sequences-json', itemText: src.itemText });
  // Integer ids keep their numbering (so *.index.json files line up).
  assert.deepEqual(ds.userIds, ['0', '1', '2']);
  assert.deepEqual(ds.itemIds, ['0', '1', '2', '3']);
  assert.deepEqual(ds.sequences.map((s) => Array.from(s)), [[0, 1, 2], [2, 3, 1, 0], [3, 2, 1]]);
  // title | brand | categories | description, empty fields skipped; item 2 has no entry.
  assert.deepEqual(ds.itemText, ['Lipstick. | Acme | Beauty,Makeup | Red.', 'Soap.', '', 'plain string text']);
});

test('sequences-json: bad JSON is a UserError with file:line:column', () => {
  const dir = tmpDir();
  // Line 3, column 9 holds the stray "x".
  const bad = writeFile(dir, 'bad.inter.json', '{\n  "0": [1, 2],\n  "1": [x]\n}\n');
  assert.throws(() => readSequencesJson(bad), (e: unknown) => e instanceof UserError && /bad\.inter\.json:3:9/.test(e.message));
  const shape = writeFile(dir, 'shape.inter.json', '{"0": 5}');
  assert.throws(() => readSequencesJson(shape), /shape\.inter\.json: user "0": expected an array/);
});

test('jsonErrorOffset finds the first syntax error', () => {
  assert.equal(jsonErrorOffset('{"a": [1, 2]}'), -1);
  assert.equal(jsonErrorOffset('{"a": [1, 2,]}'), 12);
  assert.equal(jsonErrorOffset('{"a": [1, 2]'), 12);
  assert.equal(jsonErrorOffset('[1] 2'), 4);
});
