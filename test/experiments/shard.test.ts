import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { parseGridFlag } from '../../src/experiments/grid.js';
import { expectedCost, parseShard, partitionCells } from '../../src/experiments/shard.js';
import { checkExternalDependencies, planSweep } from '../../src/experiments/sweep.js';
import { tmpDir } from '../helpers/tmp.js';
import { fakeConfig, writeFakeRun } from './fixtures.js';

// Hand-computable costs: tokens per sample = maxHistory 5 + levels 2 + 1 = 8;
// sft 10 steps x 4 x 8 = 320; ranker 10 x 8 x (5 + 1) / 4 = 120; rl 2 x 2 x 2 gens x 8 x 3 = 192.
const SMALL = [
  'policy.maxHistory=5',
  'sid.levels=2',
  'sft.steps=10',
  'sft.batchSize=4',
  'ranker.steps=10',
  'ranker.batchSize=8',
  'ranker.maxHistory=5',
  'rl.steps=2',
  'rl.batchSize=2',
  'rl.numGenerations=2',
];

const plan = (runsDir: string, grid: string, seeds: number[], extra: string[] = []) =>
  planSweep({ sets: [`runsDir=${runsDir}`, ...SMALL, ...extra], axes: [parseGridFlag(grid)], seeds, namePrefix: 'qs' });
const names = (cells: { dir: string }[]) => cells.map((c) => path.basename(c.dir));

describe('parseShard', () => {
  it('reads K/N and refuses anything else', () => {
    assert.deepEqual(parseShard('2/3'), { index: 2, count: 3 });
    assert.deepEqual(parseShard(' 1 / 1 '), { index: 1, count: 1 });
    for (const bad of ['0/3', '4/3', '1/0', '2', 'a/b', '-1/2']) assert.throws(() => parseShard(bad), UserError, bad);
  });
});

describe('partitionCells', () => {
  it('costs a cell by its stages, identifying shared upstream stages by what they depend on', () => {
    const c1 = expectedCost(fakeConfig('runs', 'a', 1, SMALL));
    const c2 = expectedCost(fakeConfig('runs', 'b', 1, [...SMALL, 'rl.algorithm=adagrpo']));
    const c3 = expectedCost(fakeConfig('runs', 'a', 2, SMALL));
    assert.deepEqual([c1.upstream.map((u) => u.cost), c1.rl], [[320, 120], 192]);
    assert.deepEqual(c2.upstream.map((u) => u.key), c1.upstream.map((u) => u.key), 'RL settings do not change the upstream stages');
    assert.notEqual(c3.upstream[0].key, c1.upstream[0].key, 'another seed trains another SFT stage');
  });

  it('balances by expected cost, paying each upstream stage once per shard that needs it', () => {
    const p = plan(tmpDir(), 'rl.algorithm=nll,adagrpo', [1, 2]);
    const part = partitionCells(p.runs, 3);
    // Each cell alone costs 632. nll_s1 -> shard 1; adagrpo_s1 -> shard 2 (632 < 632 + 192 on shard 1);
    // nll_s2 -> shard 3 (empty); adagrpo_s2 -> shard 3 (632 + 192 = 824 < 632 + 632 elsewhere).
    assert.deepEqual(part.shards.map(names), [
      ['qs-rl.algorithm_nll_s1'],
      ['qs-rl.algorithm_adagrpo_s1'],
      ['qs-rl.algorithm_nll_s2', 'qs-rl.algorithm_adagrpo_s2'],
    ]);
    assert.deepEqual(part.costs, [632, 632, 824]);
  });

  it('runs every cell exactly once for any N, and the same partition every time', () => {
    const p = plan(tmpDir(), 'rl.algorithm=nll,grpo+nll,adagrpo', [1, 2]);
    for (let n = 1; n <= 7; n++) {
      const part = partitionCells(p.runs, n);
      assert.equal(part.shards.length, n);
      assert.deepEqual(part.shards.flat().map((c) => c.dir).sort(), p.runs.map((c) => c.dir).sort(), `N=${n}`);
      assert.deepEqual(partitionCells(p.runs, n).shards.map(names), part.shards.map(names));
    }
    // One shard runs in plan order.
    assert.deepEqual(names(partitionCells(p.runs, 1).shards[0]), names(p.runs));
  });

  it('keeps a cell with the run it is matched to, after it, in the same shard', () => {
    const runsDir = tmpDir();
    const p = plan(runsDir, 'rl.algorithm=random-gate,adagrpo', [1, 2], [`rl.randomGate.matchRun=${runsDir}/qs-rl.algorithm_adagrpo_s{seed}`]);
    const part = partitionCells(p.runs, 2);
    assert.deepEqual(part.shards.map(names), [
      ['qs-rl.algorithm_adagrpo_s1', 'qs-rl.algorithm_random-gate_s1'],
      ['qs-rl.algorithm_adagrpo_s2', 'qs-rl.algorithm_random-gate_s2'],
    ]);
    assert.deepEqual(part.external, []);
    // Unsharded, the matched run is trained first too, although the grid lists it second.
    assert.deepEqual(names(partitionCells(p.runs, 1).shards[0]), [
      'qs-rl.algorithm_adagrpo_s1',
      'qs-rl.algorithm_random-gate_s1',
      'qs-rl.algorithm_adagrpo_s2',
      'qs-rl.algorithm_random-gate_s2',
    ]);
  });

  it('refuses a dependency cycle', () => {
    const a = { dir: 'runs/a_s1', config: fakeConfig('runs', 'a', 1, ['rl.lambdaMatchRun=runs/b_s1']) };
    const b = { dir: 'runs/b_s1', config: fakeConfig('runs', 'b', 1, ['rl.lambdaMatchRun=runs/a_s1']) };
    assert.throws(() => partitionCells([a, b], 2), (e: unknown) => e instanceof UserError && e.message.endsWith('in a cycle (rl.randomGate.matchRun / rl.lambdaMatchRun): runs/a_s1 -> runs/b_s1 -> runs/a_s1'));
  });

  it('refuses up front a dependency outside the sweep that has not completed, and accepts it once completed', () => {
    const runsDir = tmpDir();
    const p = planSweep({ sets: [`runsDir=${runsDir}`, 'rl.algorithm=grpo+nll', `rl.lambdaMatchRun=${runsDir}/ada_s{seed}`], axes: [], seeds: [1, 2], namePrefix: 'lm' });
    const part = partitionCells(p.runs, 2);
    assert.deepEqual(part.external.map((x) => x.dir), [`${runsDir}/ada_s1`, `${runsDir}/ada_s2`]);
    writeFakeRun({ runsDir, name: 'ada', seed: 1 });
    writeFakeRun({ runsDir, name: 'ada', seed: 2, status: 'interrupted' });
    assert.throws(
      () => checkExternalDependencies(part.external),
      (e: unknown) =>
        e instanceof UserError &&
        e.message ===
          'runs of this sweep depend on runs outside it that have not completed:\n' +
            `  ${runsDir}/lm_s2: rl.lambdaMatchRun=${runsDir}/ada_s2 is interrupted\n` +
            "Train those first (or add them to this sweep's grid, where they run before their dependents); on Slurm, submit this sweep with sbatch --dependency=afterok:<job id of theirs>.",
    );
    writeFakeRun({ runsDir, name: 'ada', seed: 2 });
    checkExternalDependencies(part.external);
  });
});
