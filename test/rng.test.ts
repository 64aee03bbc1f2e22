import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, AliasFreeSampler } from '../src/rng.js';

test('same seed, same stream; another seed, another stream', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const xa = Array.from({ length: 5 }, () => a.nextU32());
  const xb = Array.from({ length: 5 }, () => b.nextU32());
  const xc = Array.from({ length: 5 }, () => c.nextU32());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
});

test('state() and restore() continue the exact stream (checkpoint resume)', () => {
  const a = new Rng(7);
  for (let i = 0; i < 10; i++) a.normal();
  const saved = a.state();
  const after = Array.from({ length: 4 }, () => a.normal());
  const r = Rng.restore(saved);
  assert.deepEqual(Array.from({ length: 4 }, () => r.normal()), after);
});

test('uniform, normal and categorical moments are right (100k draws)', () => {
  const r = new Rng(1);
  const n = 100_000;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(s / n) < 0.02);
  assert.ok(Math.abs(s2 / n - 1) < 0.02);
  const counts = [0, 0, 0];
  const sampler = new AliasFreeSampler([1, 2, 7]);
  for (let i = 0; i < n; i++) counts[sampler.sample(r)]++;
  assert.ok(Math.abs(counts[2] / n - 0.7) < 0.01, `got ${counts}`);
  const cat = [0, 0];
  for (let i = 0; i < n; i++) cat[r.categorical([3, 1])]++;
  assert.ok(Math.abs(cat[0] / n - 0.75) < 0.01);
});

test('fork gives independent, reproducible child streams', () => {
  const a = new Rng(5).fork('sft');
  const b = new Rng(5).fork('sft');
  const c = new Rng(5).fork('ranker');
  assert.equal(a.nextU32(), b.nextU32());
  assert.notEqual(new Rng(5).fork('sft').nextU32(), c.nextU32());
});
