import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { atomicDir, atomicWrite } from '../../src/io/atomic.js';
import { tmpDir } from '../helpers/tmp.js';

test('atomicWrite replaces a file and leaves no temp file', () => {
  const dir = tmpDir();
  const f = path.join(dir, 'sub', 'a.txt');
  atomicWrite(f, 'one');
  atomicWrite(f, 'two');
  assert.equal(fs.readFileSync(f, 'utf8'), 'two');
  assert.deepEqual(fs.readdirSync(path.dirname(f)), ['a.txt']);
});

test('atomicDir: a failing fill leaves neither the target nor a temp folder', () => {
  const dir = tmpDir();
  const target = path.join(dir, 'cache');
  assert.throws(() =>
    atomicDir(target, (tmp) => {
      fs.writeFileSync(path.join(tmp, 'half'), 'x');
      throw new Error('bad input');
    }),
  );
  assert.deepEqual(fs.readdirSync(dir), []);
  atomicDir(target, (tmp) => fs.writeFileSync(path.join(tmp, 'ok'), 'y'));
  assert.deepEqual(fs.readdirSync(target), ['ok']);
});
