/**
 * `adagrpo sweep`: a grid of configurations × seeds, run one after another exactly as `train`
 * runs them (openRun + trainRun), sharing the cached upstream stages. The logic lives in
 * src/experiments/sweep.ts; this file wires flags, the backend, Ctrl-C and progress.
 */
import { Command } from 'commander';
import path from 'node:path';
import { initBackend } from '../../backend.js';
import { loadConfig } from '../../config/load.js';
import { UserError } from '../../errors.js';
import { parseGridFlag, parseSeeds } from '../../experiments/grid.js';
import { planSweep, runSweep, sweepRecordPath } from '../../experiments/sweep.js';
import { addConfigOptions, addProgressOptions, collect, progressFromFlags, type ConfigFlags } from '../options.js';
import { stopOnSignals } from '../signals.js';
import { openRun, trainRun } from '../../train/run.js';

interface SweepFlags extends ConfigFlags {
  seeds?: string;
  grid: string[];
  namePrefix?: string;
  progress: boolean;
  logEvery: string;
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
    .addHelpText(
      'after',
      '\n--dry-run lists the planned runs and what would happen to each (new, resume, skip) without training.\n' +
        'A value may contain {seed}, replaced by each run\'s seed (e.g. a random gate matched to the AdaGRPO\n' +
        'run of the same seed: --set rl.randomGate.matchRun=runs/qs-rl.algorithm_adagrpo_s{seed}).\n' +
        '\nExamples:\n' +
        '  adagrpo sweep --config configs/quickstart.yaml --seeds 1,2,3 --grid rl.algorithm=nll,grpo+nll,adagrpo\n' +
        '  adagrpo sweep --config configs/quickstart.yaml --seeds 1-5 --grid rl.lambda=0.1,0.3,1 --grid rl.algorithm=grpo+nll,adagrpo\n' +
        '  adagrpo report runs/sweeps/quickstart --baseline rl.algorithm=nll --plots\n',
    )
    .action(async (flags: SweepFlags) => {
      const log = (line: string) => process.stderr.write(line + '\n');
      const axes = flags.grid.map(parseGridFlag);
      let seeds: number[];
      if (flags.seeds !== undefined) seeds = parseSeeds(flags.seeds);
      else seeds = [loadConfig(flags.config, { sets: flags.set, overrides: { backend: flags.backend } }).seed];
      const plan = planSweep({ configFile: flags.config, sets: flags.set, axes, seeds, namePrefix: flags.namePrefix, backend: flags.backend });
      const counts = { new: 0, resume: 0, completed: 0 };
      for (const r of plan.runs) counts[r.state]++;
      log(
        `sweep ${plan.name}: ${plan.runs.length} runs (${axes.map((a) => `${a.key} x${a.texts.length}`).join(', ') || 'no grid'}, ${seeds.length} seed${seeds.length > 1 ? 's' : ''}); ` +
          `${counts.new} new, ${counts.resume} to resume, ${counts.completed} completed`,
      );
      if (flags.dryRun) {
        const what = { new: 'new', resume: 'resume', completed: 'skip (completed)' };
        for (const r of plan.runs) process.stdout.write(`${what[r.state].padEnd(17)} ${r.dir}\n`);
        return;
      }
      if (counts.new + counts.resume === 0) {
        log(`every run is completed; nothing to train. Compare them: adagrpo report ${plan.sweepDir}`);
      }
      const backend = await initBackend(plan.runs[0].config.backend, log);

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
          { at: new Date().toISOString(), config: flags.config ?? null, sets: flags.set, grid: axes, seeds },
        );
        log(`sweep ${plan.name}: ${result.trained} trained, ${result.skipped} skipped, ${result.failed.length} failed; record: ${sweepRecordPath(plan.sweepDir)}`);
        if (result.failed.length > 0) {
          throw new UserError(
            `${result.failed.length} run${result.failed.length > 1 ? 's' : ''} failed:\n${result.failed.map((f) => `  ${f.name} seed ${f.seed}: ${f.error}`).join('\n')}\n` +
              `Their checkpoints are kept; fix the cause and run the sweep again to retry them.`,
          );
        }
        log(`next: adagrpo report ${path.normalize(plan.sweepDir)} --plots`);
      } finally {
        stop.dispose();
      }
    });
  return cmd;
}
