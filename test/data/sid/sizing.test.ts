import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sidSchema, syntheticSchema } from '../../../src/config/schema.js';
import { buildSemanticIds, codebookCandidates, formatSidStats } from '../../../src/data/sid/build.js';
import { candidateSizes, chooseCodebookSize, codebookSweep, type CodebookCandidate } from '../../../src/data/sid/sizing.js';
import { generateSyntheticWorld } from '../../../src/data/synthetic.js';
import { leaveOneOut } from '../../../src/data/splits.js';
import { Rng } from '../../../src/rng.js';
import { runCli } from '../../helpers/cli.js';
import { TINY_WORLD } from '../../helpers/tiny.js';
import { tmpDir, writeFile } from '../../helpers/tmp.js';

const cand = (size: number, collisionRate: number): CodebookCandidate => ({ size, collisionRate, maxCollisionGroup: 2, codebookUsage: [1] });

test('chooseCodebookSize: the smallest size at or under the target; the fewest collisions when none is', () => {
  const cs = [cand(64, 0.02), cand(16, 0.3), cand(32, 0.05), cand(128, 0.0)];
  assert.deepEqual(chooseCodebookSize(cs, 0.05), { chosen: cs[2], metTarget: true });
  assert.deepEqual(chooseCodebookSize(cs, 0.5), { chosen: cs[1], metTarget: true });
  assert.deepEqual(chooseCodebookSize([cand(8, 0.6), cand(16, 0.4), cand(32, 0.45)], 0.1), { chosen: cand(16, 0.4), metTarget: false });
});

test('candidateSizes: sizes below the catalog, then the catalog size once', () => {
  assert.deepEqual(candidateSizes([8, 16, 32, 64, 128], 40), [8, 16, 32, 40]);
  assert.deepEqual(candidateSizes([16, 8, 8], 1000), [8, 16]);
});

test('codebookSweep on a hand-made catalog: items at the same point always collide (6 of 8, group of 4)', () => {
  // 8 items in 1-D: four at 0, two at 10, one at 20, one at 30. With K = 4 each point is a centroid.
  const x = Float32Array.from([0, 0, 0, 0, 10, 10, 20, 30]);
  const [r] = codebookSweep(x, 8, 1, 1, [4], 10, () => new Rng(1));
  assert.deepEqual(r.candidate, { size: 4, collisionRate: 6 / 8, maxCollisionGroup: 4, codebookUsage: [1] });
});

test('sid.codebookSize auto on a tiny catalog: the smallest K meeting the target, its codes those of that fixed K, recorded in sid.json', async () => {
  const world = generateSyntheticWorld(syntheticSchema.parse({ numItems: 60, numUsers: 40, numCategories: 4 }));
  const input = (cacheDir: string) => ({ dataset: world, splits: leaveOneOut(world), dataHash: 'w', cacheDir });
  const base = { embedding: 'latent' as const, levels: 2, kmeansIters: 10 };
  const sweep = codebookCandidates(sidSchema.parse(base), input(tmpDir()), [8, 16, 32, 64]);
  assert.deepEqual(sweep.map((c) => c.size), [8, 16, 32, 60]);
  // Larger codebooks never collide more here, and use a smaller share of their codes.
  assert.ok(sweep[0].collisionRate > sweep[3].collisionRate, JSON.stringify(sweep));
  const target = (sweep[0].collisionRate + sweep[1].collisionRate) / 2 + 1e-9; // met by 16 if 16 < 8's rate
  const expected = sweep.find((c) => c.collisionRate <= target)!;

  const dir = tmpDir();
  const lines: string[] = [];
  const auto = await buildSemanticIds(sidSchema.parse({ ...base, codebookSize: 'auto', collisionTarget: target }), input(dir), (l) => lines.push(l));
  const choice = auto.sids.stats.codebookChoice!;
  assert.equal(choice.chosen, expected.size);
  assert.equal(choice.metTarget, true);
  assert.equal(choice.collisionTarget, target);
  // Tried in ascending order up to the chosen size, with the same statistics as the inspect table.
  assert.deepEqual(choice.candidates, sweep.filter((c) => c.size <= expected.size));
  assert.equal(auto.sids.codebookSizes[0], expected.size);
  assert.ok(lines.some((l) => l.startsWith(`semantic IDs: codebookSize auto chose K = ${expected.size} (the smallest`)), lines.join('\n'));
  // Recorded with the IDs (the SID stage record), and shown by formatSidStats.
  const meta = JSON.parse(fs.readFileSync(path.join(auto.dir, 'sid.json'), 'utf8')) as { stats: { codebookChoice: unknown } };
  assert.deepEqual(meta.stats.codebookChoice, choice);
  assert.match(formatSidStats(auto.sids.stats), new RegExp(`codebook size +auto: K = ${expected.size} \\(smallest of`));
  // The same codes as a config with that size fixed.
  const fixed = await buildSemanticIds(sidSchema.parse({ ...base, codebookSize: expected.size }), input(tmpDir()));
  assert.deepEqual(Array.from(auto.sids.codes), Array.from(fixed.sids.codes));
});

test('data inspect prints collision rate and codebook usage for candidate sizes', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY_WORLD);
  const r = runCli(['data', 'inspect', '--config', 'tiny.yaml', '--codebook-sizes', '4,8,16'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Codebook size candidates \(2 levels of residual k-means over latent embeddings/);
  // The tiny world's IDs are 2 x 8 (marked *); rows aligned, one per candidate.
  assert.match(r.stdout, /\n +K +collision rate +max group +usage per level\n +4 +\d+\.\d% +\d+ +[\d.]+% \/ [\d.]+%\n +8 \* +\d+\.\d%.*\n +16 +\d+\.\d%/);
  const bad = runCli(['data', 'inspect', '--config', 'tiny.yaml', '--codebook-sizes', '4,x'], cwd);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--codebook-sizes expects integers/);
});
