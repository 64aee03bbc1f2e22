import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kcore, logCounts } from '../../src/data/kcore.js';
import { rawLogFromRows, type RawLog } from '../../src/data/sources/raw.js';

/** Surviving (user, item) pairs in input order. */
const pairs = (log: RawLog) => Array.from(log.user, (u, n) => `${log.userNames[u]}:${log.itemNames[log.item[n]]}`);

// Worked example, k = 2 (users and items need >= 2 interactions):
//   u1: a b c      u2: a b      u3: c d      u4: e
//   item counts a2 b2 c2 d1 e1; user counts u1 3, u2 2, u3 2, u4 1
//   pass 1 drops u3:d (d has 1), u4:e (u4 has 1, e has 1)
//   pass 2: u3 is left with 1 interaction -> drops u3:c
//   pass 3: the cascade: losing u3 leaves c with 1 interaction (u1) -> drops u1:c
//   pass 4: u1 {a,b}, u2 {a,b}, a2 b2: stable.
const LOG = rawLogFromRows([
  ['u1', 'a', 1],
  ['u1', 'b', 2],
  ['u1', 'c', 3],
  ['u2', 'a', 1],
  ['u2', 'b', 2],
  ['u3', 'c', 1],
  ['u3', 'd', 2],
  ['u4', 'e', 1],
]);

test('kcore k=2: the cascade u3 -> c leaves u1 {a,b} and u2 {a,b} after 4 passes', () => {
  const r = kcore(LOG, 2);
  assert.deepEqual(pairs(r.log), ['u1:a', 'u1:b', 'u2:a', 'u2:b']);
  assert.equal(r.passes, 4);
  assert.deepEqual(Array.from(r.log.time), [1, 2, 1, 2]);
  assert.deepEqual(logCounts(r.log), { users: 2, items: 2, interactions: 4 });
  // Pure: the input is untouched.
  assert.equal(LOG.user.length, 8);
  assert.deepEqual(logCounts(LOG), { users: 4, items: 5, interactions: 8 });
});

test('kcore with a higher user bar: minUser 3, items >= 2 keep nothing here', () => {
  // u1 is the only user with 3, but its items a, b, c then have 1 interaction each -> all dropped.
  const r = kcore(LOG, 2, 3);
  assert.equal(r.log.user.length, 0);
});

test('kcore k=0 and k=1 keep everything in one pass', () => {
  for (const k of [0, 1]) {
    const r = kcore(LOG, k);
    assert.equal(r.passes, 1);
    assert.deepEqual(pairs(r.log), pairs(LOG));
  }
});

test('kcore counts repeated interactions: u1 a a survives k=2 with item a twice', () => {
  const r = kcore(rawLogFromRows([['u1', 'a', 1], ['u1', 'a', 2], ['u2', 'b', 1]]), 2);
  assert.deepEqual(pairs(r.log), ['u1:a', 'u1:a']);
});
