import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { dataSchema } from '../../../src/config/schema.js';
import { prepareData } from '../../../src/data/prepare.js';
import { readCsvSource } from '../../../src/data/sources/csv.js';
import { logToDataset } from '../../../src/data/sources/raw.js';
import { UserError } from '../../../src/errors.js';
import { tmpDir, writeFile } from '../../helpers/tmp.js';

// u1 consumed c (t=5), b (7.5), a (10); u2 consumed c (1), then b and a both at t=20: the tie
// keeps input order (b before a); u3 a, b, c. The rating column is extra and ignored.
// Ids are not all integers, so dense order = first appearance: users u2 u1 u3, items b a c.
const LOG = `user,item,timestamp,rating
u2,b,20,5
u1,a,10,3
u1,c,5,1
u2,a,20,4
u1,b,7.5,2
u2,c,1,1
u3,a,1,1
u3,b,2,1
u3,c,3,1
`;

function csvConfig(dir: string, csv: Record<string, unknown>, kcore = 0) {
  return dataSchema.parse({ source: 'csv', kcore, processedDir: path.join(dir, 'processed'), csv });
}

test('csv: time order, stable ties, extra columns ignored, first-appearance ids', async () => {
  const dir = tmpDir();
  const src = await readCsvSource(csvConfig(dir, { path: writeFile(dir, 'log.csv', LOG) }).csv);
  const ds = logToDataset(src.log, { name: 't', source: 'csv', itemText: src.itemText });
  assert.deepEqual(ds.userIds, ['u2', 'u1', 'u3']);
  assert.deepEqual(ds.itemIds, ['b', 'a', 'c']);
  // u2: c b a = [2,0,1]; u1: c b a = [2,0,1]; u3: a b c = [1,0,2]
  assert.deepEqual(ds.sequences.map((s) => Array.from(s)), [[2, 0, 1], [2, 0, 1], [1, 0, 2]]);
  assert.equal(ds.itemText, null);
});

test('csv: custom delimiter and column names, integer ids sorted numerically, item table text', async () => {
  const dir = tmpDir();
  const log = writeFile(dir, 'log.tsv', 'uid;iid;ts;x\n7;30;2;q\n7;10;1;q\n5;10;3;q\n5;20;1;q\n5;30;2;q\n7;20;3;q\n');
  const items = writeFile(dir, 'items.csv', 'iid;name;brand;extra\n10;Ten;B1;z\n20;Twenty;;z\n99;Unused;B9;z\n');
  const cfg = csvConfig(dir, {
    path: log,
    delimiter: ';',
    userColumn: 'uid',
    itemColumn: 'iid',
    timestampColumn: 'ts',
    itemsPath: items,
    itemIdColumn: 'iid',
    textColumns: ['name', 'brand'],
  });
  const src = await readCsvSource(cfg.csv);
  const ds = logToDataset(src.log, { name: 't', source: 'csv', itemText: src.itemText });
  assert.deepEqual(ds.userIds, ['5', '7']);
  assert.deepEqual(ds.itemIds, ['10', '20', '30']);
  // user 5: 20 (t1), 30 (t2), 10 (t3); user 7: 10, 30, 20
  assert.deepEqual(ds.sequences.map((s) => Array.from(s)), [[1, 2, 0], [0, 2, 1]]);
  // Non-empty text columns joined by " | "; item 30 has no row -> ''.
  assert.deepEqual(ds.itemText, ['Ten | B1', 'Twenty', '']);
});

/** prepareData must fail with a UserError matching every pattern and leave processedDir absent. */
async function assertBadInput(dir: string, csv: Record<string, unknown>, patterns: RegExp[]) {
  const cfg = csvConfig(dir, csv);
  await assert.rejects(prepareData(cfg), (e: unknown) => {
    assert.ok(e instanceof UserError, `not a UserError: ${e}`);
    for (const p of patterns) assert.match((e as Error).message, p);
    return true;
  });
  assert.equal(fs.existsSync(cfg.processedDir), false, 'nothing written');
}

test('csv errors: missing file, empty file, header-only file', async () => {
  const dir = tmpDir();
  await assertBadInput(dir, { path: path.join(dir, 'nope.csv') }, [/data\.csv\.path/, /nope\.csv/, /not found/]);
  await assertBadInput(dir, { path: writeFile(dir, 'empty.csv', '') }, [/empty\.csv/, /empty/]);
  await assertBadInput(dir, { path: writeFile(dir, 'header.csv', 'user,item,timestamp\n') }, [/header\.csv/, /no data rows/]);
});

test('csv errors: a missing required column names the column, its config key and the header', async () => {
  const dir = tmpDir();
  const file = writeFile(dir, 'cols.csv', 'user,item,time\nu1,a,1\n');
  await assertBadInput(dir, { path: file }, [/cols\.csv:1/, /"timestamp"/, /data\.csv\.timestampColumn/, /"user", "item", "time"/]);
});

test('csv errors: a non-numeric timestamp names file:line, the column and the value', async () => {
  const dir = tmpDir();
  const file = writeFile(dir, 'ts.csv', 'user,item,timestamp\nu1,a,1\nu1,b,2.5\nu1,c,yesterday\n');
  await assertBadInput(dir, { path: file }, [/ts\.csv:4/, /column "timestamp"/, /"yesterday"/]);
});

test('csv errors: a row with too many fields is reported with its line', async () => {
  const dir = tmpDir();
  const file = writeFile(dir, 'ragged.csv', 'user,item,timestamp\nu1,a,1\nu1,b,2,extra\n');
  await assertBadInput(dir, { path: file }, [/ragged\.csv:3/, /malformed CSV/]);
});
