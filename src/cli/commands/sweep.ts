/**
 * `adagrpo sweep`: a grid of configurations × seeds, run one after another exactly as `train`
 * runs them (openRun + trainRun), sharing the cached upstream stages. The logic lives in
 * src/experiments/sweep.ts; this file wires flags, the backend, Ctrl-C and progress.
 */
import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';
import { initBackend } from '../../backend.js';
import { UserError } from '../../errors.js';
import { parseGridFlag, parseSeeds } from '../../experiments/grid.js';
import { parseShard, partitionCells, type ShardSpec } from '../../experiments/shard.js';
import { shellQuote, submit, writeSbatchScript } from '../../experiments/slurm.js';
import { checkExternalDependencies, planSweep, readSweepRecord, runSweep, sweepRecordPath, sweepStatus, type SweepPlan } from '../../experiments/sweep.js';
import { lockStaleMs } from '../../io/lock.js';
import { addConfigOptions, addProgressOptions, collect, configFromFlags, progressFromFlags, type ConfigFlags } from '../options.js';
import { stopOnSignals } from '../signals.js';
import { openRun, trainRun } from '../../train/run.js';

interface SweepFlags extends ConfigFlags {
  seeds?: string;
  grid: string[];
  namePrefix?: string;
  progress: boolean;
  logEvery: string;
  shard?: string;
  status?: boolean;
  slurm?: boolean;
  shards?: number;
  submit?: boolean;
  partition?: string;
  time?: string;
  gpusPerTask?: number;
  cpusPerTask?: number;
}

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expects a positive integer');
  return n;
}

/** The arguments that define the sweep (what every shard must be given unchanged). */
function sweepArgs(flags: SweepFlags): string[] {
  return [
    'sweep',
    ...(flags.config ? ['--config', flags.config] : []),
    ...flags.set.flatMap((s) => ['--set', s]),
    ...(flags.backend ? ['--backend', flags.backend] : []),
    ...(flags.threads ? ['--threads', flags.threads] : []),
    ...(flags.seeds ? ['--seeds', flags.seeds] : []),
    ...flags.grid.flatMap((g) => ['--grid', g]),
    ...(flags.namePrefix ? ['--name-prefix', flags.namePrefix] : []),
    '--no-progress',
  ];
}

export function registerSweep(program: Command): Command {
  const cmd = program
    .command('sweep')
    .summary('Train a grid of configurations x seeds, resumably (one run after another, shared upstream stages)')
    .description(
      'Train every combination of --grid values x --seeds, one run after another, as "train" would; every ' +
        'run of a seed shares the cached data, SFT and ranker stages. Run names carry the grid values ' +
        '(<prefix>-<key>_<value>..._s<seed>). Resumable: completed runs are skipped, interrupted ones ' +
        'resumed, so after Ctrl-C the same command continues. Writes <runsDir>/sweeps/<prefix>/sweep.json.',
    );
  addProgressOptions(addConfigOptions(cmd))
    .option('--seeds <list>', 'run seeds, e.g. 1,2,3 or 1-5 (default: the config\'s seed)')
    .option('--grid <key=v1,v2,...>', 'one grid axis: a config key and its values (repeatable; the product is swept)', collect, [])
    .option('--name-prefix <name>', 'prefix of the run names and the sweep folder\'s name (default: the config\'s name)')
    .option('--shard <K/N>', 'run only shard K of N (a fixed partition of the cells; N processes, any hosts, one shared runs folder)')
    .option('--status', 'show done, running, waiting, failed cells from the run folders and their locks, then exit')
    .option('--slurm', 'write a Slurm job-array script (one task per shard) and print its sbatch command')
    .option('--shards <N>', 'with --slurm: array size (default: one task per group of dependent cells)', positiveInt)
    .option('--submit', 'with --slurm: submit the script with sbatch')
    .option('--partition <name>', 'with --slurm: sbatch --partition')
    .option('--time <limit>', 'with --slurm: sbatch --time, e.g. 12:00:00')
    .option('--gpus-per-task <n>', 'with --slurm: sbatch --gpus-per-task', positiveInt)
    .option('--cpus-per-task <n>', 'with --slurm: sbatch --cpus-per-task', positiveInt)
    .addHelpText(
      'after',
      '\n--dry-run lists the planned runs and what would happen to each (new, resume, skip) without training.\n' +
        'A value may contain {seed}, replaced by each run\'s seed (e.g. a random gate matched to the AdaGRPO\n' +
        'run of the same seed: --set rl.randomGate.matchRun=runs/qs-rl.algorithm_adagrpo_s{seed}).\n' +
        '\nShards (--shard K/N, or the array tasks of --slurm) share one runs folder: each run folder and cached\n' +
        'stage is built by one process under a lock (<entry>.lock); a lock whose holder died is taken over at\n' +
        'once on its host, after ADAGRPO_LOCK_STALE seconds (default 60) from other hosts.\n' +
        '\nExamples:\n' +
        '  adagrpo sweep --config configs/quickstart.yaml --seeds 1,2,3 --grid rl.algorithm=nll,grpo+nll,adagrpo\n' +
        '  adagrpo sweep --config configs/quickstart.yaml --seeds 1-5 --grid rl.lambda=0.1,0.3,1 --grid rl.algorithm=grpo+nll,adagrpo\n' +
        '  adagrpo report runs/sweeps/quickstart --baseline rl.algorithm=nll --plots\n' +
        '  adagrpo sweep --config configs/quickstart.yaml --seeds 1-3 --grid rl.algorithm=nll,adagrpo --shard 2/3\n' +
        '  adagrpo sweep --config configs/quickstart.yaml --seeds 1-3 --grid rl.algorithm=nll,adagrpo --slurm --time 4:00:00 --gpus-per-task 1 --submit\n',
    )
    .action(async (flags: SweepFlags) => {
      const log = (line: string) => process.stderr.write(line + '\n');
      const axes = flags.grid.map(parseGridFlag);
      let seeds: number[];
      if (flags.seeds !== undefined) seeds = parseSeeds(flags.seeds);
      else seeds = [configFromFlags(flags).seed];
      const plan = planSweep({ configFile: flags.config, sets: flags.set, axes, seeds, namePrefix: flags.namePrefix, backend: flags.backend, threads: flags.threads });
      const slurmOnly = ['shards', 'submit', 'partition', 'time', 'gpusPerTask', 'cpusPerTask'] as const;
      const stray = slurmOnly.filter((k) => flags[k] !== undefined);
      if (!flags.slurm && stray.length > 0) throw new UserError(`--${stray.map((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', --')} only go with --slurm`);
      if (flags.slurm && flags.shard) throw new UserError('--slurm gives each array task its own --shard; drop --shard');
      const shard: ShardSpec | undefined = flags.shard !== undefined ? parseShard(flags.shard) : undefined;
      if (flags.status) return printStatus(plan, shard);
      if (flags.slurm) return writeSlurm(plan, flags);
      const mine = shard ? new Set(partitionCells(plan.runs, shard.count).shards[shard.index - 1]) : null;
      const counts = { new: 0, resume: 0, completed: 0 };
      for (const r of plan.runs) if (!mine || mine.has(r)) counts[r.state]++;
      if (shard) log(`shard ${shard.index}/${shard.count}: ${mine!.size} of the ${plan.runs.length} runs`);
      log(
        `sweep ${plan.name}: ${plan.runs.length} runs (${axes.map((a) => `${a.key} x${a.texts.length}`).join(', ') || 'no grid'}, ${seeds.length} seed${seeds.length > 1 ? 's' : ''}); ` +
          `${counts.new} new, ${counts.resume} to resume, ${counts.completed} completed`,
      );
      if (flags.dryRun) {
        const what = { new: 'new', resume: 'resume', completed: 'skip (completed)' };
        for (const r of plan.runs) if (!mine || mine.has(r)) process.stdout.write(`${what[r.state].padEnd(17)} ${r.dir}\n`);
        return;
      }
      if (counts.new + counts.resume === 0) {
        log(`every run is completed; nothing to train. Compare them: adagrpo report ${plan.sweepDir}`);
      }
      const backend = await initBackend(plan.runs[0].config.backend, log, plan.runs[0].config.threads);

      // The current run saves a checkpoint at the end of its step and the sweep stops. Running
      // the same command again continues.
      const stop = stopOnSignals(log, 'stopping the sweep after this step of the current run');
      try {
        const result = await runSweep(
          plan,
          {
            log,
            signal: stop.signal,
            execute: async (p, resume) => {
              const run = openRun(p.config, resume, process.argv);
              run.setBackend(backend);
              const r = await trainRun(run, backend.name, {
                until: 'rl',
                resume,
                signal: stop.signal,
                log,
                progress: progressFromFlags(flags),
              });
              const hash = (s: string) => r.outcomes.find((o) => o.stage === s)?.hash;
              const test = Object.fromEntries(r.reports.map((x) => [x.checkpoint, x.metrics]));
              return { upstream: { data: r.inputs.manifest.hash, sid: r.inputs.sidHash, sft: hash('sft'), ranker: hash('ranker') }, test };
            },
          },
          { at: new Date().toISOString(), config: flags.config ?? null, sets: flags.set, grid: axes, seeds, ...(shard ? { shard: flags.shard } : {}) },
          shard,
        );
        log(`sweep ${plan.name}${shard ? ` shard ${shard.index}/${shard.count}` : ''}: ${result.trained} trained, ${result.skipped} skipped, ${result.failed.length} failed; record: ${sweepRecordPath(plan.sweepDir)}`);
        if (result.failed.length > 0) {
          throw new UserError(
            `${result.failed.length} run${result.failed.length > 1 ? 's' : ''} failed:\n${result.failed.map((f) => `  ${f.name} seed ${f.seed}: ${f.error}`).join('\n')}\n` +
              `Their checkpoints are kept; fix the cause and run the sweep again to retry them.`,
          );
        }
        log(shard ? `when every shard is done: adagrpo report ${path.normalize(plan.sweepDir)} --plots` : `next: adagrpo report ${path.normalize(plan.sweepDir)} --plots`);
      } finally {
        stop.dispose();
      }
    });
  return cmd;
}

/** `sweep --status`: one line per cell, in the partition of the last sharded call (or --shard's N). */
function printStatus(plan: SweepPlan, shard: ShardSpec | undefined): void {
  const last = readSweepRecord(plan.sweepDir)?.invocations.findLast((i) => i.shard !== undefined)?.shard;
  const shards = shard?.count ?? (last ? parseShard(last).count : 1);
  const rows = sweepStatus(plan, shards).filter((r) => !shard || r.shard === shard.index);
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  for (const r of rows) {
    const where = shards > 1 ? `shard ${r.shard}/${shards}  ` : '';
    process.stdout.write(`${r.state.padEnd(11)} ${where}${r.dir}${r.detail ? `  (${r.detail})` : ''}\n`);
  }
  process.stdout.write(`${plan.name}: ${['done', 'running', 'waiting', 'failed', 'interrupted', 'stopped'].filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${k}`).join(', ')} of ${rows.length} runs\n`);
}

/** `sweep --slurm`: the job-array script, and the sbatch command (or the submitted job). */
function writeSlurm(plan: SweepPlan, flags: SweepFlags): void {
  const partition = partitionCells(plan.runs, plan.runs.length);
  const groups = partition.shards.filter((s) => s.length > 0).length;
  const shards = flags.shards ?? groups;
  if (shards > groups) throw new UserError(`--shards ${shards}: this sweep has only ${groups} independent groups of runs; use --shards ${groups} or fewer`);
  try {
    checkExternalDependencies(partition.external);
  } catch (e) {
    // The array may rightly be submitted before those runs finish (sbatch --dependency=afterok:...).
    process.stderr.write(`note: ${(e as Error).message}\n`);
  }
  const dir = path.join(plan.sweepDir, 'slurm');
  const script = writeSbatchScript({
    shards,
    jobName: `adagrpo-${plan.name}`,
    dir,
    cwd: process.cwd(),
    command: [process.execPath, path.resolve(process.argv[1])],
    sweepArgs: sweepArgs(flags),
    partition: flags.partition,
    time: flags.time,
    gpusPerTask: flags.gpusPerTask,
    cpusPerTask: flags.cpusPerTask,
  });
  process.stderr.write(`sweep ${plan.name}: ${plan.runs.length} runs in ${shards} array tasks; script ${script}; task logs ${path.join(dir, '%A_%a.out')}\n`);
  const staleNote = `locks held by a killed task are taken over after ${lockStaleMs() / 1000} s (ADAGRPO_LOCK_STALE)`;
  if (!flags.submit) {
    process.stdout.write(`sbatch ${script}\n`);
    process.stderr.write(`submit it with the command above (or add --submit); ${staleNote}\n`);
    return;
  }
  const job = submit(script);
  process.stdout.write(`${job}\n`);
  process.stderr.write(`submitted job array ${job} (${shards} tasks); follow it with: squeue -j ${job}; adagrpo ${sweepArgs(flags).map(shellQuote).join(' ')} --status\n`);
}
