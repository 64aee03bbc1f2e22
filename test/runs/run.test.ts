import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateConfig } from '../../src/config/load.js';
import { UserError } from '../../src/errors.js';
import { readMetrics } from '../../src/runs/metrics.js';
import { Run } from '../../src/runs/run.js';
import { tmpDir } from '../helpers/tmp.js';

test('a run folder holds config, meta and append-only metrics, and is never overwritten', () => {
  const runsDir = tmpDir();
  const config = validateConfig({ name: 'demo', seed: 3, runsDir });
  const run = Run.create(config, ['node', 'adagrpo', 'train']);
  assert.equal(run.dir, path.join(runsDir, 'demo_s3'));
  run.logMetrics('sft', { kind: 'train', step: 1, loss: 2.5 });
  run.logMetrics('sft', { kind: 'train', step: 2, loss: 2.0 });
  assert.deepEqual(
    readMetrics(run.dir, { stage: 'sft' }).map((r) => r.loss),
    [2.5, 2.0],
  );
  const meta = JSON.parse(fs.readFileSync(path.join(run.dir, 'meta.json'), 'utf8'));
  assert.equal(meta.status, 'running');
  assert.equal(meta.versions.tfjs, '4.22.0');
  assert.ok('commit' in meta.git && 'dirty' in meta.git);
  assert.throws(() => Run.create(config, []), (e: unknown) => e instanceof UserError && /already exists.*--resume/.test(e.message));
  run.finish('interrupted');
  const resumed = Run.resume(run.dir, ['again']);
  assert.equal(resumed.status, 'running');
  assert.equal(resumed.config.seed, 3);
  resumed.finish('completed');
  assert.throws(() => Run.resume(run.dir, []), /already completed/);
  // config.yaml re-validates to the same config.
  assert.deepEqual(Run.open(run.dir).config, config);
});
