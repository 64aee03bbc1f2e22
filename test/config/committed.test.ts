import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { ALGORITHMS } from '../../src/config/schema.js';
import { fileURLToPath } from 'node:url';

// Compiled to dist-test/test/config/: the repository's configs/ is three folders up.
const CONFIGS = fileURLToPath(new URL('../../../configs/', import.meta.url));
const yamls = fs
  .readdirSync(CONFIGS, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('every committed config validates (the README and docs point users at them)', () => {
  assert.ok(yamls.length >= 20, `found ${yamls.length}`);
  for (const f of yamls) assert.doesNotThrow(() => loadConfig(path.join(CONFIGS, f)), `configs/${f}`);
});

test('one config per algorithm for quickstart and Beauty, each extending its shared base', () => {
  for (const base of ['quickstart', 'beauty']) {
    const shared = loadConfig(path.join(CONFIGS, `${base}.yaml`));
    for (const algorithm of ALGORITHMS) {
      const c = loadConfig(path.join(CONFIGS, base, `${algorithm}.yaml`));
      assert.equal(c.rl.algorithm, algorithm);
      assert.equal(c.name, `${base}-${algorithm}`);
      // Everything else is the base's.
      assert.deepEqual({ ...c, name: shared.name, rl: { ...c.rl, algorithm: shared.rl.algorithm } }, shared);
    }
  }
});

test('the public-data configs name ../shared beside the repository root, whatever the working directory', () => {
  const root = path.resolve(CONFIGS, '..');
  const beauty = loadConfig(path.join(CONFIGS, 'beauty', 'study.yaml'));
  assert.equal(beauty.data.sequencesJson.inter, path.resolve(root, '../shared/data/amazon-beauty/Beauty.inter.json'));
  assert.equal(beauty.sid.file, path.resolve(root, '../shared/data/amazon-beauty/Beauty.letter.index.json'));
  const sci = loadConfig(path.join(CONFIGS, 'scientific.yaml'));
  assert.equal(sci.data.sequencesJson.item, path.resolve(root, '../shared/data/amazon-scientific/Scientific.item.json'));
});
