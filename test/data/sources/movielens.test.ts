import { test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { readMovielensSource } from '../../../src/data/sources/movielens.js';
import { logToDataset } from '../../../src/data/sources/raw.js';
import { dataSchema } from '../../../src/config/schema.js';
import { UserError } from '../../../src/errors.js';
import { tmpDir, writeFile } from '../../helpers/tmp.js';

const ml = (movielens: Record<string, unknown>) => dataSchema.parse({ source: 'movielens', movielens }).movielens;

// user 1 rated 1193 (5, t3), 661 (3, t1), 914 (3, t2); user 2: 1193 (4, t9), 661 (2, t5), 914 (5, t7).
const RATINGS = '1::1193::5::3\n1::661::3::1\n1::914::3::2\n2::1193::4::9\n2::661::2::5\n2::914::5::7\n';

test('movielens ratings.dat: time order, minRating filter, movies.dat titles (Latin-1)', async () => {
  const dir = tmpDir();
  const ratings = writeFile(dir, 'ratings.dat', RATINGS);
  // "Café" in Latin-1 (é is the single byte 0xE9, invalid UTF-8), as ML-1M ships movies.dat.
  const movies = path.join(dir, 'movies.dat');
  fs.writeFileSync(movies, Buffer.from("661::James and the Giant Peach (1996)::Animation|Children's|Musical\n914::Café (1964)::Musical\n", 'latin1'));
  const all = await readMovielensSource(ml({ ratings, movies }));
  const ds = logToDataset(all.log, { name: 'ml', source: 'movielens', itemText: all.itemText });
  assert.deepEqual(ds.userIds, ['1', '2']);
  assert.deepEqual(ds.itemIds, ['661', '914', '1193']);
  // user 1: 661 914 1193; user 2: 661 914 1193
  assert.deepEqual(ds.sequences.map((s) => Array.from(s)), [[0, 1, 2], [0, 1, 2]]);
  assert.deepEqual(ds.itemText, ["James and the Giant Peach (1996) | Animation, Children's, Musical", 'Café (1964) | Musical', '']);
  // minRating 4 keeps 1:1193, 2:1193, 2:914 -> user 2: 914 (t7), 1193 (t9)
  const liked = await readMovielensSource(ml({ ratings, minRating: 4 }));
  const ds4 = logToDataset(liked.log, { name: 'ml', source: 'movielens', itemText: null });
  assert.deepEqual(ds4.itemIds, ['914', '1193']);
  assert.deepEqual(ds4.sequences.map((s) => Array.from(s)), [[1], [0, 1]]);
});


test('movielens ratings.csv goes through the CSV reader', async () => {
  const dir = tmpDir();
  const ratings = writeFile(dir, 'ratings.csv', 'userId,movieId,rating,timestamp\n1,10,4.5,100\n1,20,1.0,50\n2,10,3.5,10\n');
  const movies = writeFile(dir, 'movies.csv', 'movieId,title,genres\n10,"Heat, The (1995)",Action|Crime\n20,Up (2009),(no genres listed)\n');
  const src = await readMovielensSource(ml({ ratings, movies, minRating: 3 }));
  const ds = logToDataset(src.log, { name: 'ml', source: 'movielens', itemText: src.itemText });
  assert.deepEqual(ds.sequences.map((s) => Array.from(s)), [[0], [0]]);
  assert.deepEqual(ds.itemText, ['Heat, The (1995) | Action, Crime']);
});

test('movielens errors name file:line', async () => {
  const dir = tmpDir();
  const bad = writeFile(dir, 'ratings.dat', '1::10::5::3\n1::20::5\n');
  await assert.rejects(readMovielensSource(ml({ ratings: bad })), (e: unknown) => e instanceof UserError && /ratings\.dat:2: expected user::item::rating::timestamp/.test(e.message));
  const badTs = writeFile(dir, 'r2.dat', '1::10::5::3\n1::20::5::soon\n');
  await assert.rejects(readMovielensSource(ml({ ratings: badTs })), /r2\.dat:2: column "timestamp": "soon"/);
});
