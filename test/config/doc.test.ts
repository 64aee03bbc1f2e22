import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { configReference } from '../../src/config/doc.js';

test('docs/CONFIG.md is the reference generated from the schema (run `npm run docs` if not)', () => {
  const committed = fs.readFileSync(new URL('../../../docs/CONFIG.md', import.meta.url), 'utf8');
  assert.equal(committed, configReference());
});

test('every leaf key has a description', () => {
  const undocumented = configReference()
    .split('\n')
    .filter((l) => l.startsWith('| `') && l.trimEnd().endsWith('|  |'));
  assert.deepEqual(undocumented, []);
});
