import { Command, Option } from 'commander';
import { initBackend } from '../../backend.js';
import { STAGES, type StageName } from '../../train/pipeline.js';
import { openLockedRun, trainRun } from '../../train/run.js';
import { addConfigOptions, addProgressOptions, configFromFlags, printConfig, progressFromFlags, type ConfigFlags } from '../options.js';
import { stopOnSignals } from '../signals.js';
import { testTable } from '../tables.js';

interface TrainFlags extends ConfigFlags {
  resume?: boolean;
  until: StageName;
  progress: boolean;
  logEvery: string;
}


export function registerTrain(program: Command): Command {
  const cmd = program
    .command('train')
    .description(
      'Run the pipeline: data, semantic IDs, SFT, ranker, RL (docs/METHOD.md 2). Writes <runsDir>/<name>_s<seed>/ ' +
        'with config.yaml, meta.json, metrics.jsonl and a folder per stage. Upstream stages are cached by ' +
        'a hash of their inputs and reused by every run that shares them.',
    );
  addProgressOptions(addConfigOptions(cmd))
    .option('--resume', 'continue the existing run folder of this config (same name and seed) from its last checkpoints')
    .addOption(new Option('--until <stage>', 'stop after this stage').choices([...STAGES]).default('rl'))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  adagrpo train --config configs/quickstart.yaml\n' +
        '  adagrpo train --config configs/quickstart.yaml --set seed=2 --set rl.algorithm=random-gate\n' +
        '  adagrpo train --config configs/quickstart.yaml --resume      after Ctrl-C\n',
    )
    .action(async (flags: TrainFlags) => {
      const config = configFromFlags(flags);
      if (flags.dryRun) {
        printConfig(config);
        return;
      }
      const log = (line: string) => process.stderr.write(line + '\n');
      // The backend first: if it cannot start, no run folder is left behind claiming to run.
      const backend = await initBackend(config.backend, log, config.threads);
      // One writer per run folder: a second train (or --resume) of a run in progress exits 2 naming the holder.
      const { run, lock: runLock } = await openLockedRun(config, Boolean(flags.resume), flags.resume ? 'train --resume' : 'train', log);
      run.setBackend(backend);
      log(`run: ${run.dir}`);

      const stop = stopOnSignals(log, 'saving a checkpoint at the end of this step');
      try {
        const { reports } = await trainRun(run, backend.name, {
          until: flags.until,
          resume: Boolean(flags.resume),
          signal: stop.signal,
          log,
          progress: progressFromFlags(flags),
        });
        if (reports.length > 0) {
          process.stdout.write(`\n${run.dir}: ${reports[0].stage} on test, ${reports[0].users} users, beam ${reports[0].beam}\n${testTable(reports)}\n`);
        }
      } finally {
        stop.dispose();
        runLock.release();
      }
    });
  return cmd;
}
