import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { combinationName, expandGrid, folderSafe, parseGridFlag, parseSeeds, splitTopLevel, withSeed } from '../../src/experiments/grid.js';

describe('grid flags', () => {
  it('splits values at top-level commas only', () => {
    assert.deepEqual(splitTopLevel('0.1,0.3,1'), ['0.1', '0.3', '1']);
    assert.deepEqual(splitTopLevel('[1,5], [1,10]'), ['[1,5]', '[1,10]']);
    assert.deepEqual(splitTopLevel('"a,b",c'), ['"a,b"', 'c']);
  });

  it('parses key=v1,v2 and refuses reserved keys, empty and repeated values', () => {
    assert.deepEqual(parseGridFlag('rl.lambda=0.1,0.3'), { key: 'rl.lambda', texts: ['0.1', '0.3'] });
    assert.throws(() => parseGridFlag('rl.lambda'), UserError);
    assert.throws(() => parseGridFlag('seed=1,2'), /--seeds/);
    assert.throws(() => parseGridFlag('name=a,b'), UserError);
    assert.throws(() => parseGridFlag('rl.lambda=0.1,,1'), /empty value/);
    // 0.30 and 0.3 are the same number once read as YAML.
    assert.throws(() => parseGridFlag('rl.lambda=0.3,0.30'), /repeats/);
  });

  it('parses seeds as lists and ranges, refusing repeats and junk', () => {
    assert.deepEqual(parseSeeds('1,2,3'), [1, 2, 3]);
    assert.deepEqual(parseSeeds('1-3,7'), [1, 2, 3, 7]);
    assert.throws(() => parseSeeds('1,1'), /twice/);
    assert.throws(() => parseSeeds('a'), UserError);
    assert.throws(() => parseSeeds('3-1'), /backwards/);
  });

  it('makes names folder-safe and substitutes {seed}', () => {
    assert.equal(folderSafe('a=b/c d'), 'a_b_c_d');
    assert.equal(combinationName('qs', { 'rl.algorithm': 'grpo+nll', 'eval.ks': '[1,5]' }), 'qs-rl.algorithm_grpo+nll-eval.ks__1_5_');
    assert.equal(withSeed('rl.randomGate.matchRun=runs/x_s{seed}', 7), 'rl.randomGate.matchRun=runs/x_s7');
  });
});

describe('expandGrid', () => {
  it('pins a 2 x 2 grid x 2 seeds: seeds outermost, then the axes in order, first axis outermost', () => {
    const axes = [parseGridFlag('rl.algorithm=nll,adagrpo'), parseGridFlag('rl.lambda=0.1,0.3')];
    const combos = expandGrid(axes, [1, 2], 'qs');
    assert.deepEqual(
      combos.map((c) => [c.seed, c.name]),
      [
        [1, 'qs-rl.algorithm_nll-rl.lambda_0.1'],
        [1, 'qs-rl.algorithm_nll-rl.lambda_0.3'],
        [1, 'qs-rl.algorithm_adagrpo-rl.lambda_0.1'],
        [1, 'qs-rl.algorithm_adagrpo-rl.lambda_0.3'],
        [2, 'qs-rl.algorithm_nll-rl.lambda_0.1'],
        [2, 'qs-rl.algorithm_nll-rl.lambda_0.3'],
        [2, 'qs-rl.algorithm_adagrpo-rl.lambda_0.1'],
        [2, 'qs-rl.algorithm_adagrpo-rl.lambda_0.3'],
      ],
    );
    assert.deepEqual(combos[3].grid, { 'rl.algorithm': 'adagrpo', 'rl.lambda': '0.3' });
    assert.deepEqual(combos[3].sets, ['rl.algorithm=adagrpo', 'rl.lambda=0.3', 'name=qs-rl.algorithm_adagrpo-rl.lambda_0.3', 'seed=1']);
  });

  it('an empty grid is one run per seed named by the prefix', () => {
    assert.deepEqual(
      expandGrid([], [3, 4], 'base').map((c) => [c.seed, c.name, c.sets]),
      [
        [3, 'base', ['name=base', 'seed=3']],
        [4, 'base', ['name=base', 'seed=4']],
      ],
    );
  });

  it('refuses a repeated axis and values that collide once folder-safe', () => {
    assert.throws(() => expandGrid([parseGridFlag('rl.lambda=1'), parseGridFlag('rl.lambda=2')], [1], 'x'), /twice/);
    assert.throws(() => expandGrid([parseGridFlag('data.csv.path=a/b,a_b')], [1], 'x'), /same run name/);
  });
});
