import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { dataSchema } from '../../src/config/schema.js';
import { formatDataStats, gini, inspectData, lengthStats } from '../../src/data/inspect.js';
import { prepareData } from '../../src/data/prepare.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

test('lengthStats and gini on worked examples', () => {
  // sorted 1 3 5 9: median (3+5)/2 = 4, mean 4.5, p90 = ceil(0.9*4) = 4th value = 9
  assert.deepEqual(lengthStats([5, 3, 9, 1]), { min: 1, median: 4, mean: 4.5, p90: 9, max: 9 });
  assert.deepEqual(lengthStats([2, 7, 4]), { min: 2, median: 4, mean: 13 / 3, p90: 7, max: 7 });
  // all mass on one of 4: 2*(4*4)/(4*4) - 5/4 = 0.75; uniform: 0
  assert.equal(gini([0, 0, 4, 0]), 0.75);
  assert.equal(gini([2, 2, 2]), 0);
  // [1, 3]: 2*(1*1 + 2*3)/(2*4) - 3/2 = 14/8 - 1.5 = 0.25
  assert.equal(gini([3, 1]), 0.25);
});

test('inspectData on a hand-made log', async () => {
  const dir = tmpDir();
  // Sequences (time order) with integer ids 1..6:
  //   user 1: 1 2 3 4 5 -> train 1 2 3
  //   user 2: 1 2 6     -> train 1
  //   user 3: 1 3 2 6   -> train 1 3
  // train counts item1 3, item2 1, item3 2, item4..6 0 (6 items, 6 train interactions)
  //   top 20% = ceil(1.2) = 2 items (3 + 2) -> 5/6; items < 5: all 6; unseen: 4, 5, 6 -> 3
  //   gini of [3,1,2,0,0,0] sorted 0 0 0 1 2 3: 2*(4*1 + 5*2 + 6*3)/(6*6) - 7/6 = 64/36 - 42/36 = 22/36
  const rows = ['user,item,timestamp'];
  const seqs: Record<string, number[]> = { '1': [1, 2, 3, 4, 5], '2': [1, 2, 6], '3': [1, 3, 2, 6] };
  for (const [u, s] of Object.entries(seqs)) s.forEach((i, t) => rows.push(`${u},${i},${t}`));
  const file = writeFile(dir, 'log.csv', rows.join('\n') + '\n');
  const p = await prepareData(dataSchema.parse({ source: 'csv', kcore: 0, processedDir: path.join(dir, 'p'), csv: { path: file } }));
  const s = inspectData(p);
  assert.equal(s.users, 3);
  assert.equal(s.items, 6);
  assert.equal(s.interactions, 12);
  assert.deepEqual(s.splits, { train: 6, valid: 3, test: 3 });
  assert.deepEqual(s.seqLen, { min: 3, median: 4, mean: 4, p90: 5, max: 5 });
  assert.deepEqual(s.popularity, { top20Share: 5 / 6, under5: 6, under5Share: 1, unseenInTrain: 3, gini: 64 / 36 - 7 / 6 });
  assert.equal(s.synthetic, null);
  const text = formatDataStats(s);
  assert.match(text, /^ {2}users +3$/m);
  assert.match(text, /^ {2}top 20% items share +83\.3%$/m);
  assert.match(text, /^ {2}Gini +0\.611$/m);
});

test('inspectData on a small synthetic world reports exposure and clicks', async () => {
  const dir = tmpDir();
  const p = await prepareData(
    dataSchema.parse({ processedDir: path.join(dir, 'p'), synthetic: { numItems: 200, numUsers: 300, numCategories: 8, seed: 1 } }),
  );
  const y = inspectData(p).synthetic!;
  assert.equal(y.freshItems, 30);
  assert.equal(y.freshShare, 0.15);
  assert.equal(y.impressions, p.manifest.splits.train);
  assert.equal(y.impressionSize, 10);
  assert.ok(y.freshInTest > 3 * y.freshInTrain);
  assert.ok(y.freshShownShare < 0.015);
  // The consumed item (1 of 10 shown) is always clicked.
  assert.ok(Math.abs(y.clickRate - (0.1 + 0.9 * y.clickRateOthers)) < 1e-9);
  assert.match(formatDataStats(inspectData(p)), /fresh share train\/valid\/test/);
});
