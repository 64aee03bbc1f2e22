import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { StageContext } from '../../src/train/context.js';
import { runPipeline, stageHash, stageKey, type StageRunner } from '../../src/train/pipeline.js';
import type { PreparedInputs } from '../../src/data/inputs.js';
import { Run } from '../../src/runs/run.js';
import { tmpDir } from '../helpers/tmp.js';

/**
 * Fake stages that record the first draw of their random stream and mark themselves finished, so
 * the test sees exactly which stream each stage was handed and which stages were reused.
 */
function recordingStages(draws: Record<string, number>): Record<'sft' | 'ranker' | 'rl', StageRunner> {
  const stage = (name: string) => async (ctx: StageContext) => {
    draws[name] = ctx.rng.nextU32();
    fs.mkdirSync(ctx.stageDir, { recursive: true });
    fs.writeFileSync(path.join(ctx.stageDir, 'final.json'), '{}');
    return {};
  };
  return { sft: stage('sft'), ranker: stage('ranker'), rl: stage('rl') };
}

async function train(config: Config): Promise<{ draws: Record<string, number>; reused: string[]; upstream: Record<string, string> }> {
  const draws: Record<string, number> = {};
  const run = Run.create(config, []);
  const { outcomes } = await runPipeline({
    run,
    until: 'rl',
    resume: false,
    signal: new AbortController().signal,
    log: () => {},
    progress: () => ({ update: () => {}, log: () => {}, stop: () => {} }),
    stages: recordingStages(draws),
  });
  const upstream = JSON.parse(fs.readFileSync(path.join(run.dir, 'upstream.json'), 'utf8')) as Record<string, string>;
  return { draws, reused: outcomes.filter((o) => o.reused).map((o) => o.stage), upstream };
}

function tinyConfig(runsDir: string, extra: Record<string, unknown>): Config {
  return validateConfig({
    runsDir,
    backend: 'cpu',
    data: { processedDir: path.join(runsDir, 'processed'), synthetic: { numItems: 40, numUsers: 30, numCategories: 4, minSeqLen: 4, maxSeqLen: 9 } },
    sid: { levels: 2, codebookSize: 8, embedding: 'latent' },
    ...extra,
  });
}

test("a stage's random stream depends on its seed alone, not on whether the stages before it were reused", async () => {
  const runsDir = tmpDir();
  const fresh = await train(tinyConfig(runsDir, { name: 'a', seed: 1 }));
  assert.deepEqual(fresh.reused, []);
  // Same upstream, another RL setting: sft and ranker come from the cache, RL runs anew.
  const reusing = await train(tinyConfig(runsDir, { name: 'b', seed: 1, rl: { lambda: 0.5 } }));
  assert.deepEqual(reusing.reused, ['sft', 'ranker']);
  assert.equal(reusing.draws.rl, fresh.draws.rl);
  assert.notEqual(fresh.draws.sft, fresh.draws.ranker, 'each stage has its own stream');
});

test('upstreamSeed fixes the SFT policy and ranker while the run seed varies the RL stage', async () => {
  const runsDir = tmpDir();
  const s1 = await train(tinyConfig(runsDir, { name: 'u', seed: 1, upstreamSeed: 7 }));
  const s2 = await train(tinyConfig(runsDir, { name: 'u', seed: 2, upstreamSeed: 7 }));
  assert.deepEqual(s2.reused, ['sft', 'ranker']);
  assert.equal(s2.upstream.sft, s1.upstream.sft);
  assert.equal(s2.upstream.ranker, s1.upstream.ranker);
  assert.notEqual(s2.draws.rl, s1.draws.rl);
  // upstreamSeed 7 is the same computation as a run whose own seed is 7, so that run reuses it.
  const own = await train(tinyConfig(runsDir, { name: 'own', seed: 7 }));
  assert.deepEqual(own.reused, ['sft', 'ranker']);
  assert.equal(own.upstream.sft, s1.upstream.sft);
});

test('sft.labelSmoothing names the SFT stage only when set, so stages cached before the key stay valid', () => {
  const inputs = { manifest: { hash: 'd' }, sidHash: 's' } as unknown as PreparedInputs;
  const sftOf = (sft: Record<string, unknown>) => stageKey('sft', validateConfig({ sft }), inputs).sft as Record<string, unknown>;
  assert.equal('labelSmoothing' in sftOf({ steps: 10 }), false);
  assert.equal(sftOf({ steps: 10, labelSmoothing: 0.1 }).labelSmoothing, 0.1);
  const hash = (sft: Record<string, unknown>) => stageHash('sft', validateConfig({ sft }), inputs);
  assert.equal(hash({ labelSmoothing: 0 }), hash({}));
  assert.notEqual(hash({ labelSmoothing: 0.1 }), hash({}));
});

test('rl.optimizerFromSft names the RL stage only when set, so RL checkpoints of earlier builds still resume', () => {
  const inputs = { manifest: { hash: 'd' }, sidHash: 's' } as unknown as PreparedInputs;
  const rlOf = (rl: Record<string, unknown>) => (stageKey('rl', validateConfig({ rl }), inputs).everything as { rl: Record<string, unknown> }).rl;
  assert.equal('optimizerFromSft' in rlOf({ steps: 10 }), false);
  assert.equal(rlOf({ optimizerFromSft: true }).optimizerFromSft, true);
  const hash = (rl: Record<string, unknown>) => stageHash('rl', validateConfig({ rl }), inputs);
  assert.equal(hash({ optimizerFromSft: false }), hash({}));
  assert.notEqual(hash({ optimizerFromSft: true }), hash({}));
});
