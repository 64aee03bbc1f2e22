/**
 * End to end on a real single-node Slurm cluster (.ci/slurm-cluster.sh starts munged, slurmctld
 * and slurmd in a temp folder; .ci/run installs Debian's packages): `sweep --slurm --submit` runs
 * a 2-shard sweep as a job array, and report and --status read its results unchanged. Without
 * Slurm this test fails: it must run wherever the suite runs (see .ci/run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, runCli } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';
import { TINY_WORLD } from '../helpers/tiny.js';

const CLUSTER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '.ci', 'slurm-cluster.sh');

const TINY = `${TINY_WORLD}sft: { steps: 20, batchSize: 16, warmupSteps: 2 }
ranker: { steps: 10, batchSize: 64, dim: 8, hidden: 8, maxHistory: 5 }
rl: { steps: 3, batchSize: 8, numGenerations: 4 }
eval: { every: 10, beam: 10, ks: [1, 5, 10], maxUsers: 20 }
`;

const SWEEP = ['sweep', '--config', 'tiny.yaml', '--backend', 'cpu', '--seeds', '1,2', '--grid', 'rl.algorithm=nll,adagrpo', '--set', 'upstreamSeed=1', '--name-prefix', 'ab'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('sweep --slurm --submit runs the shards as a job array; report and --status read the result', async () => {
  const cwd = tmpDir();
  writeFile(cwd, 'tiny.yaml', TINY);
  const cluster = path.join(cwd, 'cluster');
  // Fails (does not skip) when the daemons are missing or cannot start.
  execFileSync('bash', [CLUSTER, 'start', cluster], { stdio: ['ignore', 'inherit', 'inherit'] });
  const env = { ...process.env, SLURM_CONF: path.join(cluster, 'slurm.conf') };
  const slurm = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, encoding: 'utf8' });
  try {
    // Without --submit: the script and the command to submit it.
    const dry = runCli([...SWEEP, '--slurm', '--shards', '2', '--time', '10:00', '--cpus-per-task', '1'], cwd);
    assert.equal(dry.code, 0, dry.stderr);
    const script = path.join(cwd, 'runs', 'sweeps', 'ab', 'slurm', 'sweep.sbatch');
    assert.equal(dry.stdout, `sbatch ${path.join('runs', 'sweeps', 'ab', 'slurm', 'sweep.sbatch')}\n`);
    const text = fs.readFileSync(script, 'utf8');
    for (const line of ['#SBATCH --array=1-2', '#SBATCH --job-name=adagrpo-ab', '#SBATCH --time=10:00', '#SBATCH --cpus-per-task=1', `cd ${cwd}`]) {
      assert.ok(text.split('\n').includes(line), `${line} missing from\n${text}`);
    }
    assert.match(text, /sweep --config tiny\.yaml --set upstreamSeed=1 --backend cpu --seeds 1,2 --grid rl\.algorithm=nll,adagrpo --name-prefix ab --no-progress --shard "\$SLURM_ARRAY_TASK_ID\/2"\n$/);

    const sub = spawnSync(process.execPath, [BIN, ...SWEEP, '--slurm', '--shards', '2', '--submit'], { cwd, env, encoding: 'utf8' });
    assert.equal(sub.status, 0, sub.stderr);
    const job = sub.stdout.trim();
    assert.match(job, /^\d+$/);
    assert.match(sub.stderr, new RegExp(`submitted job array ${job} \\(2 tasks\\)`));

    // Wait for the array to leave the queue (seconds on an idle node; generous for a loaded one).
    for (let i = 0; i < 600 && slurm('squeue', ['-h', '-j', job]).trim() !== ''; i++) await sleep(500);
    assert.equal(slurm('squeue', ['-h', '-j', job]).trim(), '', 'the job array did not finish in 5 minutes');
    const tasks = slurm('scontrol', ['-o', 'show', 'job', job]).trim().split('\n');
    assert.equal(tasks.length, 2, tasks.join('\n'));
    for (const t of tasks) assert.match(t, /JobState=COMPLETED .*ExitCode=0:0/);

    for (const k of [1, 2]) {
      const log = fs.readFileSync(path.join(cwd, 'runs', 'sweeps', 'ab', 'slurm', `${job}_${k}.out`), 'utf8');
      assert.match(log, new RegExp(`shard ${k}/2: 2 of the 4 runs`));
      assert.match(log, new RegExp(`sweep ab shard ${k}/2: 2 trained, 0 skipped, 0 failed`));
    }
    const rep = runCli(['report', path.join('runs', 'sweeps', 'ab'), '--baseline', 'rl.algorithm=nll'], cwd);
    assert.equal(rep.code, 0, rep.stderr);
    assert.match(rep.stdout, /\| rl\.algorithm=adagrpo \| 2 \| 1,2 \|/);
    assert.match(rep.stdout, /\| rl\.algorithm=adagrpo \| rl\.algorithm=nll \| hr@10 \| 2 \|/);
    const status = runCli([...SWEEP, '--status'], cwd);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /ab: 4 done of 4 runs\n$/);
  } finally {
    execFileSync('bash', [CLUSTER, 'stop', cluster], { stdio: 'inherit' });
  }
  // The daemons it started are gone.
  for (const p of ['munged', 'slurmctld', 'slurmd']) assert.equal(fs.existsSync(path.join(cluster, `${p}.pid`)), false, p);
});
