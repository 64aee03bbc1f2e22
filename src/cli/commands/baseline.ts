/** `adagrpo baseline`: a classic recommender on the same split and metrics as the policy (src/train/baseline.ts). */
import { Command, Option } from 'commander';
import { initBackend } from '../../backend.js';
import { BASELINE_MODELS, baselineConfig, baselineRun, type BaselineModel } from '../../train/baseline.js';
import { openLockedRun } from '../../train/run.js';
import { addConfigOptions, addProgressOptions, configFromFlags, printConfig, progressFromFlags, type ConfigFlags, type ProgressFlags } from '../options.js';
import { stopOnSignals } from '../signals.js';
import { testTable } from '../tables.js';

interface BaselineFlags extends ConfigFlags, ProgressFlags {
  model: BaselineModel;
  resume?: boolean;
}

export function registerBaseline(program: Command): Command {
  const cmd = program
    .command('baseline')
    .description(
      'Train and test a classic baseline on exactly the data, split, users and metrics of the policy: SASRec, ' +
        'an ID-based causal-attention next-item model scored over the full catalog (settings: sasrec.* in the config). ' +
        'Writes the run folder <runsDir>/<name>-<model>_s<seed>/ and prints test HR@K and NDCG@K at the best and ' +
        'final checkpoints beside most-popular.',
    );
  addProgressOptions(addConfigOptions(cmd))
    .addOption(new Option('--model <name>', 'the baseline').choices([...BASELINE_MODELS]).default('sasrec'))
    .option('--resume', 'continue the baseline run folder of this config from its last checkpoint')
    .addHelpText('after', '\nExamples:\n  adagrpo baseline --config configs/beauty.yaml --model sasrec\n  adagrpo baseline --config configs/quickstart.yaml --set sasrec.steps=500\n')
    .action(async (flags: BaselineFlags) => {
      const config = baselineConfig(configFromFlags(flags), flags.model);
      if (flags.dryRun) {
        printConfig(config);
        return;
      }
      const log = (line: string) => process.stderr.write(line + '\n');
      const backend = await initBackend(config.backend, log, config.threads);
      const { run, lock: runLock } = await openLockedRun(config, Boolean(flags.resume), flags.resume ? 'baseline --resume' : 'baseline', log);
      run.setBackend(backend);
      log(`run: ${run.dir}`);
      const stop = stopOnSignals(log, 'saving a checkpoint at the end of this step');
      try {
        const { reports } = await baselineRun(run, {
          backendName: backend.name,
          resume: Boolean(flags.resume),
          signal: stop.signal,
          log,
          progress: progressFromFlags(flags),
        });
        process.stdout.write(`\n${run.dir}: ${flags.model} on test, ${reports[0].users} users, top ${reports[0].beam} of the full catalog\n${testTable(reports)}\n`);
      } finally {
        stop.dispose();
        runLock.release();
      }
    });
  return cmd;
}
