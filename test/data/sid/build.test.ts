import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sidSchema, type SidConfig } from '../../../src/config/schema.js';
import { buildSemanticIds, formatSidStats } from '../../../src/data/sid/build.js';
import { Catalog } from '../../../src/data/sid/catalog.js';
import type { Dataset, Splits, SyntheticTruth } from '../../../src/data/types.js';
import { UserError } from '../../../src/errors.js';
import { Rng } from '../../../src/rng.js';
import { tmpDir } from '../../helpers/tmp.js';

/** 60 items in 3 communities of 20; 90 users each walking inside one community. */
function tinyData(): { dataset: Dataset; splits: Splits } {
  const rng = new Rng(0);
  const sequences = Array.from({ length: 90 }, (_, u) => Int32Array.from({ length: 8 }, () => (u % 3) * 20 + rng.int(20)));
  const dataset: Dataset = {
    name: 'tiny',
    source: 'csv',
    itemIds: Array.from({ length: 60 }, (_, i) => `item${i}`),
    userIds: sequences.map((_, u) => `u${u}`),
    sequences,
    itemText: null,
    truth: null,
  };
  const splits: Splits = { train: sequences.map((s) => s.subarray(0, s.length - 2)), valid: [], test: [] };
  return { dataset, splits };
}

const cfg = (over: Partial<SidConfig>): SidConfig => ({ ...sidSchema.parse({}), ...over });

test('buildSemanticIds: rq-kmeans over cf, cached on the second call, index.json reloads the same IDs', async () => {
  const cacheDir = tmpDir('adagrpo-sidbuild-');
  const { dataset, splits } = tinyData();
  const c = cfg({ levels: 2, codebookSize: 4, embeddingDim: 8, kmeansIters: 10 });
  const lines: string[] = [];
  const first = await buildSemanticIds(c, { dataset, splits, dataHash: 'h1', cacheDir }, (l) => lines.push(l));
  assert.equal(first.cached, false);
  assert.match(path.basename(first.dir), /^sid-[0-9a-f]{12}$/);
  assert.equal(path.dirname(first.dir), cacheDir);
  assert.ok(lines.some((l) => l.includes('cf embeddings')));
  const { sids } = first;
  assert.equal(sids.stats.method, 'rq-kmeans');
  assert.equal(sids.stats.embedding, 'cf');
  assert.deepEqual(sids.codebookSizes.slice(0, 2), [4, 4]);
  assert.equal(sids.levels, sids.stats.dedupLevel ? 3 : 2);
  const cat = new Catalog(sids);
  for (let i = 0; i < 60; i++) assert.equal(cat.lookup(cat.tupleOf(i)), i);

  const second = await buildSemanticIds(c, { dataset, splits, dataHash: 'h1', cacheDir });
  assert.equal(second.cached, true);
  assert.equal(second.dir, first.dir);
  assert.deepEqual(second.sids, sids);

  // Another data hash or another seed is another cache entry.
  const other = await buildSemanticIds({ ...c, seed: 1 }, { dataset, splits, dataHash: 'h1', cacheDir });
  assert.equal(other.cached, false);
  assert.notEqual(other.dir, first.dir);

  // The LC-Rec-format index.json in the cache folder loads back as the same tuples.
  const viaFile = await buildSemanticIds(cfg({ method: 'file', file: path.join(first.dir, 'index.json') }), {
    dataset,
    splits,
    dataHash: 'h1',
    cacheDir,
  });
  assert.deepEqual(viaFile.sids.codes, sids.codes);
  assert.equal(viaFile.sids.stats.collisionRate, 0);
});

test('buildSemanticIds: a corrupt cache is rebuilt, not trusted', async () => {
  const cacheDir = tmpDir('adagrpo-sidbuild-');
  const { dataset, splits } = tinyData();
  const c = cfg({ levels: 1, codebookSize: 8, embeddingDim: 4, kmeansIters: 5 });
  const first = await buildSemanticIds(c, { dataset, splits, dataHash: 'h', cacheDir });
  fs.writeFileSync(path.join(first.dir, 'codes.i32'), Buffer.alloc(8));
  const lines: string[] = [];
  const again = await buildSemanticIds(c, { dataset, splits, dataHash: 'h', cacheDir }, (l) => lines.push(l));
  assert.equal(again.cached, false);
  assert.ok(lines.some((l) => l.includes('unusable')));
  assert.deepEqual(again.sids.codes, first.sids.codes);
});

test('buildSemanticIds: text without item text and latent without truth are UserErrors naming sid.embedding', async () => {
  const cacheDir = tmpDir('adagrpo-sidbuild-');
  const { dataset, splits } = tinyData();
  for (const embedding of ['text', 'latent'] as const) {
    await assert.rejects(buildSemanticIds(cfg({ embedding }), { dataset, splits, dataHash: 'h', cacheDir }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /sid\.embedding/);
      return true;
    });
  }
  await assert.rejects(buildSemanticIds(cfg({ method: 'file' }), { dataset, splits, dataHash: 'h', cacheDir }), /sid\.file/);
});

test('buildSemanticIds: latent and text embeddings', async () => {
  const cacheDir = tmpDir('adagrpo-sidbuild-');
  const { dataset, splits } = tinyData();
  // True vectors: the community index along one axis, so level 1 (K=3) recovers the communities.
  const itemVectors = Float32Array.from({ length: 60 * 2 }, (_, k) => (k % 2 === 0 ? Math.floor(k / 2 / 20) * 5 : (k % 7) * 0.01));
  const truth = { dim: 2, itemVectors } as SyntheticTruth;
  const latent = await buildSemanticIds(cfg({ embedding: 'latent', levels: 1, codebookSize: 3 }), {
    dataset: { ...dataset, truth },
    splits,
    dataHash: 'h',
    cacheDir,
  });
  const code = (i: number) => latent.sids.codes[i * latent.sids.levels];
  for (let i = 0; i < 60; i++) assert.equal(code(i), code(Math.floor(i / 20) * 20), `item ${i}`);
  assert.equal(new Set([code(0), code(20), code(40)]).size, 3);

  const itemText = dataset.itemIds.map((_, i) => ['red lipstick matte', 'blue shampoo dry', 'green nail polish'][Math.floor(i / 20)] + ` n${i}`);
  const text = await buildSemanticIds(cfg({ embedding: 'text', levels: 1, codebookSize: 3, embeddingDim: 2 }), {
    dataset: { ...dataset, itemText },
    splits,
    dataHash: 'h',
    cacheDir,
  });
  assert.equal(text.sids.stats.embedding, 'text');
  const tcode = (i: number) => text.sids.codes[i * text.sids.levels];
  for (let i = 0; i < 60; i++) assert.equal(tcode(i), tcode(Math.floor(i / 20) * 20), `item ${i}`);
});

test('formatSidStats prints an aligned table', () => {
  // Label column 16 wide; each level column as wide as its widest cell ('100.0%', '0.4100': 6;
  // '3 (dedup)': 9), right-aligned, two spaces between columns.
  const s = formatSidStats({
    method: 'rq-kmeans',
    embedding: 'cf',
    levels: 3,
    codebookSizes: [256, 256, 4],
    dedupLevel: true,
    collisionRate: 0.0123,
    maxCollisionGroup: 4,
    codebookUsage: [1, 0.5, 1],
    residualMse: [0.41, 0.27],
  });
  assert.equal(
    s,
    [
      'method          rq-kmeans (embedding cf)',
      'levels          3 (2 + dedup level)',
      'collision rate  1.2% of items share their tuple before dedup (max group 4)',
      'level                1       2  3 (dedup)',
      'codebook size      256     256          4',
      'usage           100.0%   50.0%     100.0%',
      'residual MSE    0.4100  0.2700          -',
    ].join('\n'),
  );
});
