import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/load.js';
import type { PreparedInputs } from '../../src/data/inputs.js';
import type { Example } from '../../src/data/types.js';
import { evalExamples, sampledUsers, sampleIndices } from '../../src/eval/evaluate.js';
import { sameUsers, usersText } from '../../src/runs/evalReport.js';
import { stageEvalKey } from '../../src/train/pipeline.js';

test('sampleIndices: spread takes ⌊i·total/n⌋, first takes 0..n-1, no cap takes all', () => {
  // total 10, n 4: ⌊0⌋, ⌊2.5⌋, ⌊5⌋, ⌊7.5⌋ = 0, 2, 5, 7.
  assert.deepEqual(Array.from(sampleIndices(10, 4, 'spread')), [0, 2, 5, 7]);
  assert.deepEqual(Array.from(sampleIndices(10, 4, 'first')), [0, 1, 2, 3]);
  // total 7, n 3: ⌊0⌋, ⌊7/3⌋, ⌊14/3⌋ = 0, 2, 4.
  assert.deepEqual(Array.from(sampleIndices(7, 3, 'spread')), [0, 2, 4]);
  for (const n of [0, 10, 11]) assert.deepEqual(Array.from(sampleIndices(10, n, 'spread')), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `n ${n}`);
  // Beauty's shape: 2,000 of 22,363 distinct users, strictly increasing, the last one near the end.
  const big = sampleIndices(22363, 2000, 'spread');
  assert.equal(new Set(big).size, 2000);
  assert.ok(big.every((v, i) => i === 0 || v > big[i - 1]));
  assert.equal(big[1999], Math.floor((1999 * 22363) / 2000)); // 22351
});

test('evalExamples picks the sampled examples of the split, and sampledUsers names the sample only when capped', () => {
  const ex = (user: number): Example => ({ user, target: 100 + user, history: Int32Array.of(user) }) as unknown as Example;
  const inputs = { splits: { test: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(ex), valid: [] } } as unknown as PreparedInputs;
  assert.deepEqual(
    evalExamples(inputs, 'test', 4, 'spread').map((e) => e.user),
    [0, 2, 5, 7],
  );
  assert.deepEqual(
    evalExamples(inputs, 'test', 4, 'first').map((e) => e.user),
    [0, 1, 2, 3],
  );
  assert.equal(evalExamples(inputs, 'test', 0, 'spread').length, 10);
  assert.deepEqual(sampledUsers(inputs, 'test', 4, 'spread'), { users: 4, userSample: 'spread' });
  assert.deepEqual(sampledUsers(inputs, 'test', 0, 'spread'), { users: 10 });
  assert.deepEqual(sampledUsers(inputs, 'test', 10, 'first'), { users: 10 });
  assert.deepEqual(sampledUsers(inputs, 'test', 25, 'first'), { users: 10 });
});

test('sameUsers: a report without userSample is every user or, from before the setting, the first N', () => {
  assert.ok(sameUsers({ users: 3000 }, { users: 3000, userSample: 'first' }));
  assert.ok(!sameUsers({ users: 3000 }, { users: 3000, userSample: 'spread' }));
  assert.ok(!sameUsers({ users: 3000, userSample: 'spread' }, { users: 2000, userSample: 'spread' }));
  assert.ok(sameUsers({ users: 22363 }, { users: 22363 }));
  assert.equal(usersText({ users: 2000, userSample: 'spread' }, 'test'), '2000 test users spread over the split');
  assert.equal(usersText({ users: 2000, userSample: 'first' }, 'valid'), 'the first 2000 valid users');
  assert.equal(usersText({ users: 22363 }, 'test'), '22363 test users');
});

test('stageEvalKey leaves userSample out where it changes nothing, so stages cached before it stay valid', () => {
  const key = (evalSection: Record<string, unknown>) => stageEvalKey(validateConfig({ eval: evalSection }));
  assert.equal(key({ maxUsers: 2000, userSample: 'first' }).userSample, undefined);
  assert.equal(key({ maxUsers: 0 }).userSample, undefined);
  assert.equal(key({ maxUsers: 2000 }).userSample, 'spread');
  assert.equal('testMaxUsers' in key({ maxUsers: 2000, testMaxUsers: 500 }), false);
});
