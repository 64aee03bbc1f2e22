import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { dataSchema } from '../../src/config/schema.js';
import { dataKey, loadPrepared, prepareData } from '../../src/data/prepare.js';
import { worldTruth } from '../../src/data/synthetic.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

const SMALL_WORLD = { numItems: 120, numUsers: 150, numCategories: 6, seed: 3 };

test('prepareData (synthetic): the second call loads the cache, says so, and returns the same data', async () => {
  const dir = tmpDir();
  const cfg = dataSchema.parse({ processedDir: path.join(dir, 'processed'), synthetic: SMALL_WORLD });
  const lines1: string[] = [];
  const a = await prepareData(cfg, { log: (l) => lines1.push(l) });
  assert.equal(a.cached, false);
  assert.ok(lines1.some((l) => l.startsWith('data: preparing synthetic')));
  assert.equal(path.basename(a.dir), `synthetic-${a.manifest.hash}`);
  assert.deepEqual(fs.readdirSync(a.dir).sort(), ['arrays.bin', 'dataset.json', 'manifest.json']);
  // No temp folders left next to it.
  assert.deepEqual(fs.readdirSync(cfg.processedDir), [path.basename(a.dir)]);

  const lines2: string[] = [];
  const b = await prepareData(cfg, { log: (l) => lines2.push(l) });
  assert.equal(b.cached, true);
  assert.equal(lines2.length, 1);
  assert.match(lines2[0], /^data: cached .* \(input unchanged, not re-parsed/);
  assert.equal(b.manifest.hash, a.manifest.hash);
  assert.deepStrictEqual(b.dataset.sequences.map((s) => Array.from(s)), a.dataset.sequences.map((s) => Array.from(s)));
  assert.deepStrictEqual(b.dataset.truth!.impressions, a.dataset.truth!.impressions);
  assert.deepStrictEqual(b.dataset.truth!.itemVectors, a.dataset.truth!.itemVectors);
  assert.deepStrictEqual(worldTruth(b.dataset)!.itemExposure, worldTruth(a.dataset)!.itemExposure);
  assert.deepStrictEqual(b.splits.test, a.splits.test);
  // 150 users: valid and test examples one each; impressions = train interactions (one per train step).
  assert.deepEqual(b.manifest.splits, a.manifest.splits);
  assert.equal(a.manifest.splits.valid, 150);
  assert.equal(a.manifest.counts.impressions, a.manifest.splits.train);
  assert.equal(a.manifest.counts.interactions, a.manifest.splits.train + 300);

  // force rebuilds; another world seed is another folder.
  const c = await prepareData(cfg, { force: true });
  assert.equal(c.cached, false);
  const d = await prepareData(dataSchema.parse({ ...cfg, synthetic: { ...SMALL_WORLD, seed: 4 } }));
  assert.notEqual(d.manifest.hash, a.manifest.hash);
});

test('prepareData (csv): k-core report, cache hit, and a changed input file changes the hash', async () => {
  const dir = tmpDir();
  // u1..u3 consumed a b c d; u4 consumed d, a. Item counts a4 b3 c3 d4.
  const rows = ['user,item,timestamp'];
  for (const u of ['u1', 'u2', 'u3']) rows.push(`${u},a,1`, `${u},b,2`, `${u},c,3`, `${u},d,4`);
  rows.push('u4,d,1', 'u4,a,2');
  const file = writeFile(dir, 'log.csv', rows.join('\n') + '\n');
  const cfg = dataSchema.parse({ source: 'csv', kcore: 4, name: 'mylog', processedDir: path.join(dir, 'out'), csv: { path: file } });
  // kcore 4, pass 1: u4 has 2 < 4 and b, c have 3 < 4 -> dropped; pass 2: u1..u3 are left with
  // a, d (2 < 4) -> everything goes.
  await assert.rejects(prepareData(cfg), /nothing survives the 4-core filter/);
  assert.equal(fs.existsSync(cfg.processedDir), false);

  const cfg3 = dataSchema.parse({ ...cfg, kcore: 3 });
  const p = await prepareData(cfg3);
  // 3-core, pass 1: u4 dropped (2 < 3 = max(k, 3)); pass 2: a, b, c, d have 3 each, u1..u3 have 4: stable.
  assert.deepEqual(p.manifest.filter, {
    kcore: 3,
    minUserInteractions: 3,
    duplicates: 0,
    passes: 2,
    before: { users: 4, items: 4, interactions: 14 },
    after: { users: 3, items: 4, interactions: 12 },
  });
  assert.deepEqual(p.manifest.counts, { users: 3, items: 4, interactions: 12 });
  assert.deepEqual(p.manifest.splits, { train: 6, valid: 3, test: 3 });
  assert.equal(path.basename(p.dir), `mylog-${p.manifest.hash}`);
  assert.equal(p.manifest.inputs.length, 1);
  assert.equal(p.manifest.inputs[0].bytes, fs.statSync(file).size);

  const again = await prepareData(cfg3);
  assert.equal(again.cached, true);
  assert.deepEqual(loadPrepared(p.dir).dataset.itemIds, p.dataset.itemIds);

  fs.appendFileSync(file, 'u1,e,5\n');
  const changed = await dataKey(cfg3);
  assert.notEqual(changed.hash, p.manifest.hash);
  const p2 = await prepareData(cfg3);
  assert.equal(p2.cached, false);
  assert.equal(p2.manifest.hash, changed.hash);
  // Settings other than paths count too.
  assert.notEqual((await dataKey(dataSchema.parse({ ...cfg3, kcore: 2 }))).hash, changed.hash);
});
