/**
 * Several processes on one runs folder, through the real CLI on a tiny world: three sweep shards
 * started at once give exactly the runs and report of one sequential sweep, with each upstream
 * stage trained once; two trains of one run: one runs, the other exits 2 naming it; a train killed
 * with SIGKILL leaves locks that the next command takes over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, runCli } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';
import { TINY_WORLD } from '../helpers/tiny.js';

const TINY = `${TINY_WORLD}sft: { steps: 20, batchSize: 16, warmupSteps: 2 }
ranker: { steps: 10, batchSize: 64, dim: 8, hidden: 8, maxHistory: 5 }
rl: { steps: 3, batchSize: 8, numGenerations: 4 }
eval: { every: 10, beam: 10, ks: [1, 5, 10], maxUsers: 20 }
`;

/** `adagrpo ...args` in the background: its exit, and a promise for the first stderr match. */
function start(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, CI: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.filter((x) => x.re.test(stderr))) w.resolve();
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout })),
  );
  const seen = (re: RegExp) => new Promise<void>((resolve, reject) => {
    if (re.test(stderr)) return resolve();
    waiters.push({ re, resolve });
    void done.then((r) => reject(new Error(`exited ${r.code} before printing ${re}:\n${r.stderr}`)));
  });
  return { child, done, seen };
}

// Two seeds of three algorithms on one SFT policy and ranker (upstreamSeed): every shard needs
// them, so one process trains each while the others wait. The random gate is matched to AdaGRPO.
const SWEEP = [
  'sweep', '--config', 'tiny.yaml', '--backend', 'cpu', '--seeds', '1,2', '--name-prefix', 'ab', '--no-progress',
  '--grid', 'rl.algorithm=nll,adagrpo,random-gate',
  '--set', 'upstreamSeed=1',
  '--set', 'rl.randomGate.matchRun=runs/ab-rl.algorithm_adagrpo_s{seed}',
];

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;
const runFolders = (cwd: string) => fs.readdirSync(path.join(cwd, 'runs')).filter((d) => /_s\d+$/.test(d)).sort();
const lockFiles = (cwd: string) => fs.readdirSync(path.join(cwd, 'runs'), { recursive: true }).map(String).filter((f) => f.endsWith('.lock')).sort();

test('three shards started at once run exactly the cells of one sequential sweep, each upstream stage trained once', async () => {
  const seq = tmpDir();
  writeFile(seq, 'tiny.yaml', TINY);
  const one = runCli(SWEEP, seq);
  assert.equal(one.code, 0, one.stderr);

  const par = tmpDir();
  writeFile(par, 'tiny.yaml', TINY);
  const shards = [1, 2, 3].map((k) => start([...SWEEP, '--shard', `${k}/3`], par));
  const results = await Promise.all(shards.map((s) => s.done));
  results.forEach((r, k) => assert.equal(r.code, 0, `shard ${k + 1}:\n${r.stderr}`));
  const stderr = results.map((r) => r.stderr).join('\n');

  // The partition (see test/experiments/shard.test.ts for its costs): each random gate runs after
  // the AdaGRPO run it is matched to, in the same shard.
  const order = (r: { stderr: string }) => [...r.stderr.matchAll(/\] (\S+): starting/g)].map((m) => m[1]);
  assert.deepEqual(results.map(order), [
    ['ab-rl.algorithm_adagrpo_s1', 'ab-rl.algorithm_random-gate_s1'],
    ['ab-rl.algorithm_adagrpo_s2', 'ab-rl.algorithm_random-gate_s2'],
    ['ab-rl.algorithm_nll_s1', 'ab-rl.algorithm_nll_s2'],
  ]);
  // One SFT stage and one ranker, each trained by one process; the others waited for it or reused it.
  assert.equal(count(stderr, /sft: training in/g), 1, stderr);
  assert.equal(count(stderr, /ranker: training in/g), 1, stderr);
  assert.equal(count(stderr, /sft: reusing the finished stage/g), 5, stderr);
  assert.equal(count(stderr, /semantic IDs: built/g), 1, stderr);
  assert.equal(count(stderr, /data: prepared/g), 1, stderr);
  const cached = (cwd: string) => fs.readdirSync(path.join(cwd, 'runs', '_stages')).sort();
  const stages = (cwd: string) => cached(cwd).filter((n) => !n.startsWith('eval-'));
  assert.deepEqual(stages(par), stages(seq));
  assert.equal(stages(par).length, 2);
  // The same weights were evaluated with the same settings: the reused evaluations agree too.
  assert.deepEqual(cached(par), cached(seq));
  // Only the run that trained a stage logs its rows: one run has SFT rows.
  const withSft = runFolders(par).filter((d) => fs.readFileSync(path.join(par, 'runs', d, 'metrics.jsonl'), 'utf8').includes('"stage":"sft"'));
  assert.equal(withSft.length, 1);
  assert.deepEqual(lockFiles(par), []);

  assert.deepEqual(runFolders(par), runFolders(seq));
  assert.equal(runFolders(par).length, 6);
  const record = (cwd: string) =>
    JSON.parse(fs.readFileSync(path.join(cwd, 'runs', 'sweeps', 'ab', 'sweep.json'), 'utf8')) as { runs: unknown[]; invocations: { shard?: string }[] };
  assert.deepEqual(record(par).runs, record(seq).runs);
  assert.deepEqual(record(par).invocations.map((i) => i.shard).sort(), ['1/3', '2/3', '3/3']);

  const reportOf = (cwd: string) => {
    const r = runCli(['report', path.join('runs', 'sweeps', 'ab'), '--baseline', 'rl.algorithm=nll'], cwd);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const rep = reportOf(par);
  assert.match(rep, /\| rl\.algorithm=random-gate, [^|]* \| 2 \| 1,2 \|/);
  assert.equal(rep, reportOf(seq));

  const status = runCli([...SWEEP, '--status'], par);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^done {8}shard 3\/3 {2}runs\/ab-rl\.algorithm_nll_s1$/m);
  assert.match(status.stdout, /ab: 6 done of 6 runs\n$/);
});

test('two trains of one run: the second exits 2 naming the first, also with --resume; the first is untouched', async () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY.replace('steps: 20, batchSize: 16', 'steps: 100000, batchSize: 16'));
  const args = ['train', '--config', 'tiny.yaml', '--backend', 'cpu', '--no-progress', '--until', 'sft'];
  const first = start(args, cwd);
  await first.seen(/sft: training in/);
  for (const extra of [[], ['--resume']]) {
    const second = runCli([...args, ...extra], cwd);
    assert.equal(second.code, 2, second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`^adagrpo: error: the run folder runs/tiny_s1 is in use by another process \\(${os.hostname()}:${first.child.pid} since \\S+: train\\)\\. Wait for it to finish, or stop it`, 'm'),
    );
  }
  // The first run goes on alone: Ctrl-C stops it with one session in meta.json and one history.
  first.child.kill('SIGINT');
  const r = await first.done;
  assert.equal(r.code, 130, r.stderr);
  const meta = JSON.parse(fs.readFileSync(path.join(cwd, 'runs', 'tiny_s1', 'meta.json'), 'utf8'));
  assert.equal(meta.status, 'interrupted');
  assert.equal(meta.sessions.length, 1);
  assert.deepEqual(lockFiles(cwd), []);
});

test('a train killed with SIGKILL leaves its locks; the next train and the resume take them over at once', async () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY);
  const args = ['train', '--config', 'tiny.yaml', '--backend', 'cpu', '--no-progress', '--until', 'sft'];
  const killed = start(args, cwd);
  await killed.seen(/sft: training in/);
  killed.child.kill('SIGKILL');
  const k = await killed.done;
  assert.equal(k.signal, 'SIGKILL');
  const locks = lockFiles(cwd);
  assert.equal(locks.length, 2, locks.join(', '));
  assert.match(locks[0], /^_stages\/sft-\w+\.lock$/);
  assert.equal(locks[1], 'tiny_s1.lock');

  // Another run sharing the SFT stage: takes the dead holder's stage lock and trains the stage.
  const other = runCli([...args, '--set', 'name=other', '--set', 'rl.algorithm=grpo'], cwd);
  assert.equal(other.code, 0, other.stderr);
  const pid = killed.child.pid;
  assert.match(other.stderr, new RegExp(`taking over the lock on the sft stage runs/_stages/sft-\\w+: its holder ${os.hostname()}:${pid} is no longer running`));
  const resumed = runCli([...args, '--resume'], cwd);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`taking over the lock on the run folder runs/tiny_s1: its holder ${os.hostname()}:${pid} is no longer running`));
  assert.match(resumed.stderr, /sft: reusing the finished stage/);
  assert.deepEqual(lockFiles(cwd), []);
});
