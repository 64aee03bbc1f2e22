/**
 * Fault injection through the real CLI on a tiny world (docs/METHOD.md 7): what a crashing machine,
 * a scheduler or a damaged disk does to a run, and what the tool promises in return.
 * - SIGKILL and SIGTERM at seeded points of every stage, each followed by --resume: the run ends
 *   with exactly the metrics rows (time and throughput aside) and test metrics of an
 *   uninterrupted run; SIGTERM saves a checkpoint, marks the run interrupted and exits 143.
 * - Every kind of run file, truncated or corrupted: exit 2 naming the file, no stack.
 * - A full disk (a small tmpfs): exit 2 naming the path, no temp file left; once space is freed,
 *   --resume finishes the run with the uninterrupted run's numbers.
 * - SIGTERM during a sweep: exit 143; the same command continues it.
 * Concurrent writers to one run folder or stage-cache entry are the lock module's tests
 * (src/io/lock.ts: test/io/lock.test.ts and test/cli/shards.test.ts), not here.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { comparableRows, countRows, listFiles, mountTmpfs, remountTmpfs, runCli, runCliKilledAt, unmount } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';
import { TINY_WORLD } from '../helpers/tiny.js';
import { Rng } from '../../src/rng.js';

// Checkpoints every few steps, so kills land between checkpoints and resumes start mid-stage.
const FAULT = `${TINY_WORLD}sft: { steps: 30, batchSize: 8, warmupSteps: 2, checkpointEvery: 10 }
ranker: { steps: 30, batchSize: 16, dim: 8, hidden: 8, maxHistory: 5, checkpointEvery: 10 }
rl: { steps: 12, batchSize: 4, numGenerations: 4, checkpointEvery: 4 }
eval: { every: 10, beam: 10, ks: [1, 5, 10], maxUsers: 10, testMaxUsers: 10 }
`;
/** Rows each stage logs in an uninterrupted run of FAULT (pinned below, so the kill points stay inside their stage). */
const ROWS = { sft: 6, ranker: 7, rl: 17 };

const cwd = tmpDir();
writeFile(cwd, 'fault.yaml', FAULT);
const train = (...args: string[]) => ['train', '--config', 'fault.yaml', '--no-progress', ...args];
const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));

/** The uninterrupted run every faulted run must match (runsDir `ref`), trained once. */
let reference: string | undefined;
function referenceRun(): string {
  if (!reference) {
    const r = runCli(train('--set', 'runsDir=ref'), cwd);
    assert.equal(r.code, 0, r.stderr);
    reference = path.join(cwd, 'ref', 'tiny_s1');
    for (const [stage, n] of Object.entries(ROWS)) assert.equal(countRows(reference, stage), n, `${stage} rows`);
  }
  return reference;
}

/** Test metrics at best and final, from the eval files train writes. */
function testMetrics(runDir: string): unknown[] {
  return ['best', 'final'].map((c) => {
    const r = readJson(path.join(runDir, 'eval', `rl-${c}-test.json`));
    return { step: r.step, metrics: r.metrics, popular: r.popular };
  });
}

function assertSameAsReference(runDir: string): void {
  const ref = referenceRun();
  assert.equal(readJson(path.join(runDir, 'meta.json')).status, 'completed');
  assert.deepEqual(comparableRows(runDir), comparableRows(ref));
  assert.deepEqual(testMetrics(runDir), testMetrics(ref));
}

test('SIGKILL and SIGTERM at seeded points of every stage, each followed by --resume, end with the rows and test metrics of an uninterrupted run', async () => {
  referenceRun();
  // Separate runsDir, so the shared sft and ranker stages are trained (and killed) again, not reused.
  const runDir = path.join(cwd, 'chaos', 'tiny_s1');
  const rng = new Rng(16);
  const plan: { stage: keyof typeof ROWS; rows: number; signal: NodeJS.Signals }[] = [];
  for (const stage of ['sft', 'ranker', 'rl'] as const) {
    // Three kills per stage (SIGKILL, SIGKILL, SIGTERM) at distinct seeded row counts in
    // increasing order, short of the stage's last row; each resume cuts rows back to its checkpoint.
    const points = new Set<number>();
    while (points.size < 3) points.add(1 + rng.int(ROWS[stage] - 2));
    const [a, b, c] = [...points].sort((x, y) => x - y);
    plan.push({ stage, rows: a, signal: 'SIGKILL' }, { stage, rows: b, signal: 'SIGKILL' }, { stage, rows: c, signal: 'SIGTERM' });
  }
  const landed: string[] = [];
  let sessions = 0;
  for (const p of plan) {
    // A kill that landed late can carry a stage past a later point of the plan: skip those.
    if (countRows(runDir, p.stage) >= ROWS[p.stage]) continue;
    const args = train('--set', 'runsDir=chaos', ...(sessions > 0 ? ['--resume'] : []));
    const r = await runCliKilledAt(args, cwd, { runDir, ...p });
    sessions++;
    const what = `${p.signal} at ${p.stage} row ${p.rows}`;
    assert.ok(r.sent, `${what}: the process ended before the kill point\n${r.stderr}`);
    landed.push(`${p.stage} ${p.signal}`);
    if (p.signal === 'SIGKILL') {
      assert.equal(r.signal, 'SIGKILL', r.stderr);
    } else {
      // SIGTERM: the step finishes, a checkpoint is saved, the run is marked interrupted, exit 143.
      assert.equal(r.code, 143, `${what}\n${r.stderr}`);
      assert.match(r.stderr, /SIGTERM: saving a checkpoint/);
      const m = /interrupted during (sft|ranker|rl) at step (\d+); a checkpoint was saved\. Continue with --resume/.exec(r.stderr);
      assert.ok(m, r.stderr);
      assert.equal(readJson(path.join(runDir, 'meta.json')).status, 'interrupted');
      const stageDir = m[1] === 'rl' ? path.join(runDir, 'rl') : path.resolve(runDir, readJson(path.join(runDir, m[1], 'stage.json')).dir);
      assert.equal(readJson(path.join(stageDir, 'last.json')).step, Number(m[2]));
    }
  }
  for (const stage of Object.keys(ROWS)) assert.ok(landed.includes(`${stage} SIGKILL`), `no SIGKILL landed in ${stage}: ${landed.join(', ')}`);
  const last = runCli(train('--set', 'runsDir=chaos', '--resume'), cwd);
  assert.equal(last.code, 0, last.stderr);
  assert.equal(readJson(path.join(runDir, 'meta.json')).sessions.length, sessions + 1);
  assertSameAsReference(runDir);
});

/** Replace a file's content (or cut it to half its bytes), run `args`, expect exit 2 naming the file, then restore it. */
function expectDamageNamed(file: string, damage: 'truncate' | 'garbage' | 'empty', args: string[], named: RegExp): void {
  const saved = fs.readFileSync(file);
  const bad = damage === 'truncate' ? saved.subarray(0, Math.floor(saved.length / 2)) : damage === 'empty' ? Buffer.alloc(0) : Buffer.from('{"stage": [1, 2,\n\u0000garbage');
  fs.writeFileSync(file, bad);
  try {
    const r = runCli(args, cwd);
    const what = `${path.relative(cwd, file)} ${damage}, ${args.join(' ')}`;
    assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, named, what);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, `${what}: a stack`);
  } finally {
    fs.writeFileSync(file, saved);
  }
}

test('every kind of run file, truncated or corrupted, is an exit 2 naming the file', () => {
  const run = referenceRun();
  const rel = (f: string) => path.join(run, f);
  const eval_ = (...a: string[]) => ['eval', '--run', run, '--max-users', '2', '--no-progress', ...a];
  const ckpt = (stageDir: string, which: string) => path.join(stageDir, 'checkpoints', readJson(path.join(stageDir, `${which}.json`)).dir);
  const best = ckpt(path.join(run, 'rl'), 'best');
  const sftStage = path.resolve(run, readJson(rel('sft/stage.json')).dir);
  const cases: [file: string, damages: ('truncate' | 'garbage' | 'empty')[], args: string[]][] = [
    // A cut-short config.yaml can still be valid YAML (missing keys take their defaults), so it is
    // pinned as unparsable and as empty; the data check and the checkpoint's config hash catch the rest.
    [rel('config.yaml'), ['garbage', 'empty'], eval_()],
    [rel('meta.json'), ['truncate', 'garbage'], train('--set', 'runsDir=ref', '--resume')],
    [rel('upstream.json'), ['truncate', 'garbage'], eval_()],
    [rel('sft/stage.json'), ['truncate', 'garbage'], eval_('--stage', 'sft')],
    [rel('ranker/stage.json'), ['truncate', 'garbage'], eval_('--ranker')],
    [rel('rl/best.json'), ['truncate', 'garbage'], eval_()],
    [rel('rl/final.json'), ['truncate', 'garbage'], eval_('--checkpoint', 'final')],
    [rel('rl/last.json'), ['truncate', 'garbage'], eval_('--checkpoint', 'last')],
    [path.join(best, 'state.json'), ['truncate', 'garbage'], eval_()],
    [path.join(best, 'index.json'), ['truncate', 'garbage'], eval_()],
    // Weights carry no checksum: a cut file is caught by its length, not garbage of the same length.
    [path.join(best, 'tensors.bin'), ['truncate'], eval_()],
    // In the shared stage cache: the next run that reuses the stage fails, and leaves no folder.
    [path.join(ckpt(sftStage, 'best'), 'tensors.bin'), ['truncate'], train('--set', 'runsDir=ref', '--set', 'name=reuse')],
  ];
  for (const [file, damages, args] of cases) {
    for (const d of damages) expectDamageNamed(file, d, args, new RegExp(path.basename(file).replace('.', '\\.')));
  }
  assert.ok(!fs.existsSync(path.join(cwd, 'ref', 'reuse_s1')), 'a run that failed on a damaged cache entry leaves no folder');

  // Eval reports: report reads them for runs whose metrics.jsonl has no test rows (older runs).
  const metrics = rel('metrics.jsonl');
  const saved = fs.readFileSync(metrics, 'utf8');
  fs.writeFileSync(metrics, saved.split('\n').filter((l) => !l.includes('"kind":"test"')).join('\n'));
  try {
    for (const d of ['truncate', 'garbage'] as const) expectDamageNamed(rel('eval/rl-best-test.json'), d, ['report', run], /rl-best-test\.json/);
  } finally {
    fs.writeFileSync(metrics, saved);
  }

  // metrics.jsonl: a torn last line is a warning (tested with report elsewhere); a damaged row
  // inside the file is an error naming its line.
  const lines = saved.split('\n');
  lines[2] = lines[2].slice(0, 20);
  fs.writeFileSync(metrics, lines.join('\n'));
  try {
    const r = runCli(['report', run], cwd);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /metrics\.jsonl:3: not a JSON row/);
  } finally {
    fs.writeFileSync(metrics, saved);
  }
});

/**
 * Run `body` with a tmpfs mounted at `dir`, unmounted after. Where mounting is refused (not root,
 * a container without CAP_SYS_ADMIN) the test is skipped, and the output says so and why.
 */
function withTmpfs(t: TestContext, dir: string, options: string, body: () => void): void {
  const refused = mountTmpfs(dir, options);
  if (refused) {
    t.skip(`SKIPPED: cannot mount a tmpfs here (${refused}); this case needs root or CAP_SYS_ADMIN`);
    return;
  }
  try {
    body();
  } finally {
    unmount(dir);
  }
}

test('a full disk (small tmpfs) is an exit 2 naming the path, leaves no temp file, and --resume finishes once space is freed', (t) => {
  const disk = path.join(cwd, 'full');
  withTmpfs(t, disk, 'size=256k', () => {
    const r = runCli(train('--set', `runsDir=${disk}`), cwd);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`adagrpo: error: cannot \\w+ ${disk}/\\S+: no space left on the device\\. Free space there`));
    assert.match(r.stderr, /continues with --resume/);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
    assert.deepEqual(listFiles(disk).filter((f) => /\.tmp(\/|$)/.test(f) || f.includes('.tmp/')), [], 'no temp file or folder left');
    remountTmpfs(disk, 'size=16m');
    const resumed = runCli(train('--set', `runsDir=${disk}`, '--resume'), cwd);
    assert.equal(resumed.code, 0, resumed.stderr);
    assertSameAsReference(path.join(disk, 'tiny_s1'));
  });
});

test('read-only places are exit 2 before any work: runsDir, and eval of a run on a read-only disk', (t) => {
  const ro = path.join(cwd, 'ro');
  withTmpfs(t, ro, 'size=4m', () => {
    fs.cpSync(referenceRun(), path.join(ro, 'tiny_s1'), { recursive: true });
    // The run's stage records point at the reference's stage cache by relative path.
    fs.cpSync(path.join(cwd, 'ref', '_stages'), path.join(ro, '_stages'), { recursive: true });
    remountTmpfs(ro, 'ro');
    const r = runCli(train('--set', `runsDir=${ro}`, '--set', 'name=other'), cwd);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`runsDir ${ro} is read-only \\(EROFS\\)\\. Make it writable, or set runsDir`));
    const e = runCli(['eval', '--run', path.join(ro, 'tiny_s1'), '--no-progress'], cwd);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /tiny_s1 is read-only \(EROFS\); eval writes its results into the run folder/);
  });
});

test('SIGTERM during a sweep: checkpoint, run marked interrupted, exit 143; the same command finishes the sweep', async () => {
  const sweep = ['sweep', '--config', 'fault.yaml', '--set', 'runsDir=sw', '--seeds', '1', '--grid', 'rl.algorithm=nll,adagrpo', '--name-prefix', 'st', '--no-progress'];
  const first = path.join(cwd, 'sw', 'st-rl.algorithm_nll_s1');
  const r = await runCliKilledAt(sweep, cwd, { runDir: first, stage: 'ranker', rows: 2, signal: 'SIGTERM' });
  assert.equal(r.code, 143, r.stderr);
  assert.match(r.stderr, /interrupted during (ranker|rl) at step \d+; a checkpoint was saved/);
  assert.equal(readJson(path.join(first, 'meta.json')).status, 'interrupted');
  const again = runCli(sweep, cwd);
  assert.equal(again.code, 0, again.stderr);
  const record = readJson(path.join(cwd, 'sw', 'sweeps', 'st', 'sweep.json')) as { runs: { status: string }[] };
  assert.deepEqual(record.runs.map((x) => x.status), ['completed', 'completed']);
});
