import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, parseSet, deepMerge, validateConfig } from '../../src/config/load.js';
import { UserError } from '../../src/errors.js';
import { PATH_KEYS } from '../../src/config/schema.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';
import path from 'node:path';

function messageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${(e as Error).stack}`);
    return e.message;
  }
  assert.fail('expected an error');
}

test('defaults: an empty config is the synthetic world with the documented defaults, frozen', () => {
  const c = loadConfig(undefined);
  assert.equal(c.data.source, 'synthetic');
  assert.equal(c.sid.levels, 3);
  assert.equal(c.eval.beam, 20);
  assert.deepEqual(c.eval.ks, [1, 5, 10, 20]);
  assert.equal(c.rl.epsilon, 0.2);
  assert.equal(c.rl.beta, 0);
  assert.equal(c.gate.difficulty.statistic, 'gtRank');
  assert.equal(c.gate.difficulty.tau, 0.5);
  assert.equal(c.gate.discriminability.rho, 0.8);
  assert.equal(c.gate.discriminability.inBatchNegatives, 5);
  assert.equal(c.reward.invalid, -1);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.rl) && Object.isFrozen(c.eval.ks));
});

test('--set values are parsed as YAML scalars and lists', () => {
  assert.deepEqual(parseSet('rl.lambda=0.3'), { path: ['rl', 'lambda'], value: 0.3 });
  assert.deepEqual(parseSet('eval.ks=[1,10]'), { path: ['eval', 'ks'], value: [1, 10] });
  assert.deepEqual(parseSet('name=abc'), { path: ['name'], value: 'abc' });
  assert.deepEqual(parseSet('eval.constrained=true'), { path: ['eval', 'constrained'], value: true });
  assert.throws(() => parseSet('novalue'), UserError);
  const c = loadConfig(undefined, { sets: ['seed=7', 'rl.algorithm=grpo+nll'] });
  assert.equal(c.seed, 7);
  assert.equal(c.rl.algorithm, 'grpo+nll');
});

test('every problem is reported at once, each with its dot path and file line', () => {
  const dir = tmpDir();
  const file = writeFile(
    dir,
    'bad.yaml',
    ['name: x', 'policy:', '  dim: 64', '  layerz: 2', 'rl:', '  epsilon: 1.5', '  algorithm: ppo', 'eval:', '  beam: 0', ''].join('\n'),
  );
  const msg = messageOf(() => loadConfig(file, { sets: ['sft.lr=-1'] }));
  assert.match(msg, /4 problems|5 problems/);
  assert.match(msg, /policy\.layerz: unknown key \(.*bad\.yaml:4\)/);
  assert.match(msg, /rl\.epsilon: .*<=1 \(.*bad\.yaml:6\)/);
  assert.match(msg, /rl\.algorithm: .*\(.*bad\.yaml:7\)/);
  assert.match(msg, /eval\.beam: .*\(.*bad\.yaml:9\)/);
  assert.match(msg, /sft\.lr: .*\(from --set\)/);
});

test('malformed YAML names the file, line and column', () => {
  const dir = tmpDir();
  const file = writeFile(dir, 'broken.yaml', 'name: x\npolicy:\n  dim: [64\n  heads: 2\n');
  const msg = messageOf(() => loadConfig(file));
  assert.match(msg, /malformed YAML in .*broken\.yaml/);
  assert.match(msg, /broken\.yaml:\d+:\d+/);
});

test('a missing config file is a user error naming it', () => {
  assert.match(messageOf(() => loadConfig('/nonexistent/x.yaml')), /config file not found: \/nonexistent\/x\.yaml/);
});

test('extends: objects merged, lists replaced, the nearer file wins', () => {
  const dir = tmpDir();
  writeFile(dir, 'base.yaml', 'name: base\npolicy:\n  dim: 32\n  layers: 3\neval:\n  ks: [1, 5]\n');
  const child = writeFile(dir, 'child.yaml', 'extends: base.yaml\nname: child\npolicy:\n  dim: 48\neval:\n  ks: [10]\n');
  const c = loadConfig(child);
  assert.equal(c.name, 'child');
  assert.equal(c.policy.dim, 48);
  assert.equal(c.policy.layers, 3);
  assert.deepEqual(c.eval.ks, [10]);
  // An error in the base names the base file's line.
  writeFile(dir, 'badbase.yaml', 'policy:\n  dimm: 3\n');
  const c2 = writeFile(dir, 'c2.yaml', 'extends: badbase.yaml\n');
  assert.match(messageOf(() => loadConfig(c2)), /policy\.dimm: unknown key \(.*badbase\.yaml:2\)/);
});

test('extends chains: each file over its base, paths against each file\'s folder; cycles and deep chains refused', () => {
  const dir = tmpDir();
  writeFile(dir, 'data/base.yaml', 'name: base\npolicy:\n  dim: 32\n  layers: 3\nsid:\n  method: file\n  file: ids.json\n');
  writeFile(dir, 'recipe/mid.yaml', 'extends: ../data/base.yaml\nname: mid\npolicy:\n  dim: 48\nsft:\n  steps: 7\n');
  const top = writeFile(dir, 'study/top.yaml', 'extends: ../recipe/mid.yaml\nname: top\nsft:\n  lr: 0.5\n');
  const c = loadConfig(top);
  assert.equal(c.name, 'top');
  assert.equal(c.policy.dim, 48); // mid over base
  assert.equal(c.policy.layers, 3); // from base, untouched by mid and top
  assert.equal(c.sft.steps, 7);
  assert.equal(c.sft.lr, 0.5);
  assert.equal(c.sid.file, path.join(dir, 'data/ids.json')); // against base.yaml's folder, not top's
  // An error two files up names that file's line.
  writeFile(dir, 'bad/base.yaml', 'name: b\nsft:\n  stepz: 3\n');
  writeFile(dir, 'bad/mid.yaml', 'extends: base.yaml\n');
  const badTop = writeFile(dir, 'bad/top.yaml', 'extends: mid.yaml\n');
  assert.match(messageOf(() => loadConfig(badTop)), /sft\.stepz: unknown key \(.*bad\/base\.yaml:3\)/);

  writeFile(dir, 'cyc/a.yaml', 'extends: b.yaml\n');
  writeFile(dir, 'cyc/b.yaml', 'extends: a.yaml\n');
  assert.match(messageOf(() => loadConfig(path.join(dir, 'cyc/a.yaml'))), /"extends" forms a cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml/);
  for (let i = 0; i < 9; i++) writeFile(dir, `deep/f${i}.yaml`, `extends: f${i + 1}.yaml\n`);
  writeFile(dir, 'deep/f9.yaml', 'name: deep\n');
  assert.match(messageOf(() => loadConfig(path.join(dir, 'deep/f0.yaml'))), /"extends" chain deeper than 8 files/);
  assert.equal(loadConfig(path.join(dir, 'deep/f2.yaml')).name, 'deep'); // 8 files: allowed
});

test('a missing extends target says it was named by "extends" in which file', () => {
  const dir = tmpDir();
  const child = writeFile(dir, 'child.yaml', 'extends: nowhere.yaml\nname: child\n');
  const m = messageOf(() => loadConfig(child));
  assert.match(m, /config file not found: .*nowhere\.yaml \(named by "extends" in .*child\.yaml\)/);
  assert.match(m, /relative to the file that names it/);
});

test('reserved keys (__proto__, constructor, prototype) are refused plainly, in --set and in files; Object.prototype stays untouched', () => {
  const keysBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  for (const set of ['__proto__.x=1', 'constructor.x=1', 'rl.prototype=1', 'rl.__proto__.polluted=1']) {
    const m = messageOf(() => loadConfig(undefined, { sets: [set] }));
    assert.match(m, /is a reserved name, not a config key/, set);
    assert.equal(m.split('\n').length, 1, `one plain line, not a list of bogus unknown keys: ${m}`);
  }
  // The value of --set is YAML: a mapping may hide the key one level down.
  assert.match(messageOf(() => loadConfig(undefined, { sets: ['rl={__proto__: {polluted: 1}}'] })), /rl\.__proto__: .*reserved name/);
  const dir = tmpDir();
  const f = writeFile(dir, 'c.yaml', 'name: x\nrl:\n  __proto__:\n    polluted: 1\n');
  assert.match(messageOf(() => loadConfig(f)), /c\.yaml:3: rl\.__proto__: .*reserved name/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), keysBefore);
});

test('cross-field rules name the key', () => {
  assert.match(messageOf(() => validateConfig({ policy: { dim: 64, heads: 3 } })), /policy\.heads: must divide policy\.dim/);
  assert.match(messageOf(() => validateConfig({ data: { source: 'csv' } })), /data\.csv\.path: required when data\.source is csv/);
  assert.match(messageOf(() => validateConfig({ eval: { beam: 5 } })), /eval\.ks: every K must be <= eval\.beam/);
  assert.match(messageOf(() => validateConfig({ eval: { ks: [1, 5] } })), /eval\.ks: must include 10/);
});

test('deepMerge does not mutate its inputs', () => {
  const a = { x: { y: 1, z: 2 } };
  const b = { x: { y: 3 } };
  assert.deepEqual(deepMerge(a, b), { x: { y: 3, z: 2 } });
  assert.deepEqual(a, { x: { y: 1, z: 2 } });
});

test('relative paths in a config file resolve against that file; extends against the base; --set against the working directory', () => {
  const dir = tmpDir();
  writeFile(dir, 'shared/base.yaml', 'data:\n  source: csv\n  csv:\n    path: logs/a.csv\nsid:\n  file: ids/x.index.json\nrunsDir: out\n');
  const top = writeFile(dir, 'exp/sub/top.yaml', 'extends: ../../shared/base.yaml\ndata:\n  csv:\n    itemsPath: items.csv\nrl:\n  randomGate:\n    matchRun: ../runs/a_s{seed}\n');
  const c = loadConfig(top);
  assert.equal(c.data.csv.path, path.join(dir, 'shared/logs/a.csv'));
  assert.equal(c.sid.file, path.join(dir, 'shared/ids/x.index.json'));
  assert.equal(c.runsDir, path.join(dir, 'shared/out'));
  assert.equal(c.data.csv.itemsPath, path.join(dir, 'exp/sub/items.csv'));
  assert.equal(c.rl.randomGate.matchRun, path.join(dir, 'exp/runs/a_s{seed}'));
  // Defaults and --set stay as given: relative to wherever the command runs.
  assert.equal(c.data.processedDir, 'data/processed');
  const s = loadConfig(top, { sets: ['data.csv.path=mine.csv', 'sid.file=/abs/ids.json'] });
  assert.equal(s.data.csv.path, 'mine.csv');
  assert.equal(s.sid.file, '/abs/ids.json');
  // An absolute path in a file is kept.
  const abs = writeFile(dir, 'abs.yaml', `data:\n  source: csv\n  csv:\n    path: ${path.join(dir, 'z.csv')}\n`);
  assert.equal(loadConfig(abs).data.csv.path, path.join(dir, 'z.csv'));
});

test('every PATH_KEYS entry is a string key of the schema', () => {
  for (const k of PATH_KEYS) assert.doesNotThrow(() => loadConfig(undefined, { sets: [`${k}=some/where`] }), k);
});
