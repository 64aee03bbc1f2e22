import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { dataSchema } from '../../../src/config/schema.js';
import { prepareData } from '../../../src/data/prepare.js';
import { readSequencesTxt } from '../../../src/data/sources/sequencesTxt.js';
import { logToDataset } from '../../../src/data/sources/raw.js';
import { UserError } from '../../../src/errors.js';
import { tmpDir, writeFile } from '../../helpers/tmp.js';

const seqs = (ds: ReturnType<typeof logToDataset>) => ds.sequences.map((s) => Array.from(s, (i) => ds.itemIds[i]));

test('sequences-txt, layout user-items: one line per user in time order, blank lines and any whitespace allowed', async () => {
  const dir = tmpDir();
  const file = writeFile(dir, 'seq.txt', 'u1 a b c\n\nu2\tc  a\r\nu3 b b a d\n');
  const src = await readSequencesTxt({ file, layout: 'user-items' });
  const ds = logToDataset(src.log, { name: 't', source: 'sequences-txt', itemText: null });
  assert.deepEqual(ds.userIds, ['u1', 'u2', 'u3']);
  // Repeats are kept: a user may consume an item twice.
  assert.deepEqual(seqs(ds), [['a', 'b', 'c'], ['c', 'a'], ['b', 'b', 'a', 'd']]);
});

test('sequences-txt, layout user-item-pairs: interleaved users keep their order within the file', async () => {
  const dir = tmpDir();
  const file = writeFile(dir, 'pairs.txt', '1 10\n2 11\n1 12\n1 10\n2 13\n');
  const src = await readSequencesTxt({ file, layout: 'user-item-pairs' });
  const ds = logToDataset(src.log, { name: 't', source: 'sequences-txt', itemText: null });
  assert.deepEqual(ds.userIds, ['1', '2']);
  assert.deepEqual(seqs(ds), [['10', '12', '10'], ['11', '13']]);
  // A delimiter other than whitespace.
  const csvLike = writeFile(dir, 'pairs.tsv', 'a;x\nb;y\na;z\n');
  const src2 = await readSequencesTxt({ file: csvLike, layout: 'user-item-pairs', delimiter: ';' });
  assert.deepEqual(seqs(logToDataset(src2.log, { name: 't', source: 'sequences-txt', itemText: null })), [['x', 'z'], ['y']]);
});

test('sequences-txt: a bad line is a UserError naming file:line and the fix', async () => {
  const dir = tmpDir();
  const cases: [string, 'user-items' | 'user-item-pairs', RegExp][] = [
    ['u1 a b\nu2\n', 'user-items', /lonely\.txt:2: user "u2" has no items/],
    ['u1 a b\nu2 c\nu1 d\n', 'user-items', /lonely\.txt:3: user "u1" already has a line \(line 1\).*user-item-pairs/],
    ['1 10\n1 11 12\n', 'user-item-pairs', /lonely\.txt:2: expected 2 fields .* got 3; .*layout: user-items/],
    ['\n\n', 'user-items', /no interactions/],
  ];
  for (const [text, layout, re] of cases) {
    const file = writeFile(dir, 'lonely.txt', text);
    await assert.rejects(readSequencesTxt({ file, layout }), (e: unknown) => e instanceof UserError && re.test(e.message), `${JSON.stringify(text)}`);
  }
  await assert.rejects(readSequencesTxt({ file: path.join(dir, 'missing.txt'), layout: 'user-items' }), /data\.sequencesTxt\.path: file not found/);
  const semi = writeFile(dir, 'semi.txt', 'a;;x\n');
  await assert.rejects(readSequencesTxt({ file: semi, layout: 'user-item-pairs', delimiter: ';' }), /semi\.txt:1: field 2 is empty/);
});

test('sequences-txt through prepareData: k-core, leave-one-out split and a cache key that includes the layout', async () => {
  const dir = tmpDir();
  const lines = Array.from({ length: 6 }, (_, u) => `user${u} ${Array.from({ length: 5 }, (_, j) => `i${(u + j) % 4}`).join(' ')}`);
  const file = writeFile(dir, 'seq.txt', lines.join('\n') + '\n');
  const cfg = dataSchema.parse({ source: 'sequences-txt', kcore: 0, processedDir: path.join(dir, 'p'), sequencesTxt: { path: file } });
  const p = await prepareData(cfg);
  assert.equal(p.manifest.counts.users, 6);
  assert.equal(p.manifest.counts.items, 4);
  assert.equal(p.manifest.counts.interactions, 30);
  // Leave-one-out: the last item is test, the one before it valid.
  const u0 = p.dataset.userIds.indexOf('user0');
  assert.equal(p.dataset.itemIds[p.splits.test[u0].target], 'i0');
  assert.equal(p.dataset.itemIds[p.splits.valid[u0].target], 'i3');
});

test('sequences-txt reports the MB read to its progress, and stops it at the end', async () => {
  const dir = tmpDir();
  const text = Array.from({ length: 2000 }, (_, u) => `user${u} a b c d e f g h`).join('\n') + '\n';
  const file = writeFile(dir, 'big.txt', text);
  const seen: number[] = [];
  let stopped = 0;
  await readSequencesTxt({ file, layout: 'user-items', progress: { update: (mb) => seen.push(mb), log: () => {}, stop: () => stopped++ } });
  assert.ok(seen.length >= 1);
  assert.equal(seen[seen.length - 1], Buffer.byteLength(text) / (1024 * 1024));
  assert.ok(seen.every((x, i) => i === 0 || x > seen[i - 1]));
  assert.equal(stopped, 1);
});
