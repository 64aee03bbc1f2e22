import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UserError, InterruptedError, NonFiniteLossError } from '../../src/errors.js';
import { parseGridFlag } from '../../src/experiments/grid.js';
import { planSweep, readSweepRecord, runSweep, sweepStatus, textBar, type PlannedRun } from '../../src/experiments/sweep.js';
import { acquireLock } from '../../src/io/lock.js';
import { tmpDir } from '../helpers/tmp.js';
import { writeFakeRun } from './fixtures.js';

const plan = (runsDir: string, extra: string[] = []) =>
  planSweep({ sets: [`runsDir=${runsDir}`, ...extra], axes: [parseGridFlag('rl.algorithm=nll,adagrpo')], seeds: [1, 2], namePrefix: 'qs' });

/** A stand-in for train: writes the folder of a completed run and reports made-up hashes. */
function fakeExecute(calls: [string, boolean][], fail: Record<string, Error> = {}) {
  return async (p: PlannedRun, resume: boolean) => {
    const label = path.basename(p.dir);
    calls.push([label, resume]);
    if (fail[label]) throw fail[label];
    writeFakeRun({ runsDir: p.config.runsDir, name: p.config.name, seed: p.config.seed, sets: [`rl.algorithm=${p.config.rl.algorithm}`], sft: `sft${p.config.seed}` });
    return { upstream: { data: 'd0', sid: 's0', sft: `sft${p.config.seed}`, ranker: `rk${p.config.seed}` }, test: { best: { 'hr@10': 0.1 } } };
  };
}

const invocation = { at: 'now', config: null, sets: [], grid: [], seeds: [1, 2] };

describe('planSweep', () => {
  it('loads every cell\'s config up front, in grid order, under <runsDir>/sweeps/<prefix>', () => {
    const runsDir = tmpDir();
    const p = plan(runsDir);
    assert.equal(p.sweepDir, path.join(runsDir, 'sweeps', 'qs'));
    assert.deepEqual(
      p.runs.map((r) => [path.basename(r.dir), r.config.rl.algorithm, r.config.seed, r.state]),
      [
        ['qs-rl.algorithm_nll_s1', 'nll', 1, 'new'],
        ['qs-rl.algorithm_adagrpo_s1', 'adagrpo', 1, 'new'],
        ['qs-rl.algorithm_nll_s2', 'nll', 2, 'new'],
        ['qs-rl.algorithm_adagrpo_s2', 'adagrpo', 2, 'new'],
      ],
    );
  });

  it('substitutes {seed} in --set values', () => {
    const runsDir = tmpDir();
    const p = plan(runsDir, ['rl.randomGate.matchRun=runs/ada_s{seed}']);
    assert.deepEqual(p.runs.map((r) => r.config.rl.randomGate.matchRun), ['runs/ada_s1', 'runs/ada_s1', 'runs/ada_s2', 'runs/ada_s2']);
  });

  it('names the cell of a bad value and refuses keys the sweep sets or the grid owns', () => {
    const runsDir = tmpDir();
    assert.throws(
      () => planSweep({ sets: [`runsDir=${runsDir}`], axes: [parseGridFlag('rl.lambda=0.1,-1')], seeds: [1], namePrefix: 'qs' }),
      (e: unknown) => e instanceof UserError && e.message.startsWith('grid cell {"rl.lambda":"-1"}, seed 1: invalid config') && /rl.lambda/.test(e.message),
    );
    assert.throws(() => plan(runsDir, ['seed=3']), /sweep sets seed itself/);
    assert.throws(() => plan(runsDir, ['rl.algorithm=grpo']), /both with --set and with --grid/);
    assert.throws(() => planSweep({ sets: [`runsDir=${runsDir}`], axes: [], seeds: [1], namePrefix: 'a b' }), /--name-prefix/);
  });
});

describe('runSweep', () => {
  it('trains every run, then skips completed ones and resumes the rest; sweep.json lists runs, grid values and hashes', async () => {
    const runsDir = tmpDir();
    const logs: string[] = [];
    const calls: [string, boolean][] = [];
    const deps = { log: (l: string) => logs.push(l), signal: new AbortController().signal, execute: fakeExecute(calls) };
    const first = await runSweep(plan(runsDir), deps, invocation);
    assert.deepEqual(first, { trained: 4, skipped: 0, failed: [] });
    assert.deepEqual(calls.map((c) => c[1]), [false, false, false, false]);
    assert.ok(logs.includes('[1/4] qs-rl.algorithm_nll_s1: starting {"rl.algorithm":"nll"} seed 1'));
    assert.ok(logs.some((l) => l.startsWith('sweep [########################] 4/4 runs (4 trained, 0 skipped, 0 failed)')));

    const rec = readSweepRecord(path.join(runsDir, 'sweeps', 'qs'))!;
    assert.deepEqual(rec.runs[1], {
      name: 'qs-rl.algorithm_adagrpo',
      seed: 1,
      dir: path.join('..', '..', 'qs-rl.algorithm_adagrpo_s1'),
      grid: { 'rl.algorithm': 'adagrpo' },
      status: 'completed',
      upstream: { data: 'd0', sid: 's0', sft: 'sft1', ranker: 'rk1' },
      test: { best: { 'hr@10': 0.1 } },
    });

    // One run was interrupted (Ctrl-C in an earlier call): the next call resumes it and skips the others.
    const meta = path.join(runsDir, 'qs-rl.algorithm_nll_s2', 'meta.json');
    fs.writeFileSync(meta, JSON.stringify({ status: 'interrupted' }));
    calls.length = 0;
    const again = plan(runsDir);
    assert.deepEqual(again.runs.map((r) => r.state), ['completed', 'completed', 'resume', 'completed']);
    const second = await runSweep(again, deps, invocation);
    assert.deepEqual(second, { trained: 1, skipped: 3, failed: [] });
    assert.deepEqual(calls, [['qs-rl.algorithm_nll_s2', true]]);
    const rec2 = readSweepRecord(path.join(runsDir, 'sweeps', 'qs'))!;
    assert.equal(rec2.runs.length, 4);
    assert.deepEqual(rec2.runs[0].test, { best: { 'hr@10': 0.1 } }, 'a skipped run keeps what an earlier call recorded');
    assert.deepEqual(rec2.runs[0].upstream, { data: 'd0', sid: 's0', sft: 'sft1', ranker: 'rk1' });
    assert.equal(rec2.invocations.length, 2);
  });

  it('records a non-finite loss as failed and goes on; Ctrl-C stops the sweep and says how to continue', async () => {
    const runsDir = tmpDir();
    const calls: [string, boolean][] = [];
    const execute = fakeExecute(calls, {
      'qs-rl.algorithm_nll_s1': new NonFiniteLossError('rl', 3, 'the loss'),
      'qs-rl.algorithm_nll_s2': new InterruptedError('rl', 2),
    });
    await assert.rejects(
      runSweep(plan(runsDir), { log: () => {}, signal: new AbortController().signal, execute }, invocation),
      (e: unknown) => e instanceof InterruptedError && /Run the same sweep command again/.test(e.message),
    );
    assert.deepEqual(calls.map((c) => c[0]), ['qs-rl.algorithm_nll_s1', 'qs-rl.algorithm_adagrpo_s1', 'qs-rl.algorithm_nll_s2']);
    const rec = readSweepRecord(path.join(runsDir, 'sweeps', 'qs'))!;
    assert.deepEqual(rec.runs.map((r) => r.status), ['failed', 'completed', 'interrupted', 'pending']);
  });

  it('Ctrl-C between runs says so, without the --resume advice of train', async () => {
    const runsDir = tmpDir();
    const abort = new AbortController();
    abort.abort();
    await assert.rejects(
      runSweep(plan(runsDir), { log: () => {}, signal: abort.signal, execute: fakeExecute([], {}) }, invocation),
      (e: unknown) => e instanceof InterruptedError && e.message === 'sweep interrupted after 0 runs; finished runs are kept. Run the same sweep command again to continue the sweep.',
    );
  });

  it('refuses, before training anything, run folders that exist with another config', async () => {
    const runsDir = tmpDir();
    await runSweep(plan(runsDir), { log: () => {}, signal: new AbortController().signal, execute: fakeExecute([]) }, invocation);
    assert.equal(plan(runsDir).runs.filter((r) => r.state === 'completed').length, 4);
    assert.throws(
      () => plan(runsDir, ['rl.lr=0.5']),
      (e: unknown) =>
        e instanceof UserError &&
        /these run folders exist with another config/.test(e.message) &&
        (e.message.match(/differs at rl\.lr\)/g) ?? []).length === 4 &&
        /another --name-prefix/.test(e.message),
    );
  });

  it('trains a matched run before its control, and does not train the control when the matched run failed', async () => {
    const runsDir = tmpDir();
    const p = planSweep({
      sets: [`runsDir=${runsDir}`, `rl.randomGate.matchRun=${runsDir}/qs-rl.algorithm_adagrpo_s{seed}`],
      axes: [parseGridFlag('rl.algorithm=random-gate,adagrpo')],
      seeds: [1, 2],
      namePrefix: 'qs',
    });
    const calls: [string, boolean][] = [];
    const execute = fakeExecute(calls, { 'qs-rl.algorithm_adagrpo_s2': new NonFiniteLossError('rl', 2, 'the loss') });
    const logs: string[] = [];
    const r = await runSweep(p, { log: (l) => logs.push(l), signal: new AbortController().signal, execute }, invocation);
    assert.deepEqual(calls.map((c) => c[0]), ['qs-rl.algorithm_adagrpo_s1', 'qs-rl.algorithm_random-gate_s1', 'qs-rl.algorithm_adagrpo_s2']);
    assert.deepEqual(r.failed.map((f) => [f.name, f.seed]), [['qs-rl.algorithm_adagrpo', 2], ['qs-rl.algorithm_random-gate', 2]]);
    assert.ok(logs.includes(`[4/4] qs-rl.algorithm_random-gate_s2: not trained: rl.randomGate.matchRun=${runsDir}/qs-rl.algorithm_adagrpo_s2 did not complete`));
    // sweep.json keeps the grid's order.
    const rec = readSweepRecord(path.join(runsDir, 'sweeps', 'qs'))!;
    assert.deepEqual(rec.runs.map((e) => [e.name, e.seed, e.status]), [
      ['qs-rl.algorithm_random-gate', 1, 'completed'],
      ['qs-rl.algorithm_adagrpo', 1, 'completed'],
      ['qs-rl.algorithm_random-gate', 2, 'failed'],
      ['qs-rl.algorithm_adagrpo', 2, 'failed'],
    ]);
  });

  it('draws the overall bar', () => {
    assert.equal(textBar(1, 4, 8), '[##......]');
    assert.equal(textBar(0, 0, 4), '[####]');
  });
});

describe('sweepStatus', () => {
  it('reads done, running, waiting, failed and stopped cells from the run folders and their locks', async () => {
    const runsDir = tmpDir();
    const p = planSweep({ sets: [`runsDir=${runsDir}`], axes: [parseGridFlag('rl.algorithm=nll,grpo,adagrpo')], seeds: [1, 2], namePrefix: 'qs' });
    writeFakeRun({ runsDir, name: 'qs-rl.algorithm_nll', seed: 1 });
    writeFakeRun({ runsDir, name: 'qs-rl.algorithm_grpo', seed: 1, status: 'failed' });
    writeFakeRun({ runsDir, name: 'qs-rl.algorithm_adagrpo', seed: 1, status: 'running' }); // its process was killed
    const lock = await acquireLock(p.runs[3].dir, { what: 'nll_s2', purpose: 'sweep qs', wait: false });
    try {
      const rows = sweepStatus(p, 2);
      assert.deepEqual(
        rows.map((r) => [path.basename(r.dir), r.state, r.detail]),
        [
          ['qs-rl.algorithm_nll_s1', 'done', ''],
          ['qs-rl.algorithm_grpo_s1', 'failed', ''],
          ['qs-rl.algorithm_adagrpo_s1', 'stopped', 'no process holds it'],
          ['qs-rl.algorithm_nll_s2', 'running', `${os.hostname()}:${process.pid} since ${lock.holder.since}: sweep qs`],
          ['qs-rl.algorithm_grpo_s2', 'waiting', ''],
          ['qs-rl.algorithm_adagrpo_s2', 'waiting', ''],
        ],
      );
      assert.deepEqual(rows.map((r) => r.shard).sort(), [1, 1, 1, 2, 2, 2]);
    } finally {
      lock.release();
    }
  });
});
