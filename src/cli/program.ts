/** The commander program: one thin file per command under commands/. */
import { Command } from 'commander';
import { packageVersion } from '../runs/run.js';
import { registerBaseline } from './commands/baseline.js';
import { registerData } from './commands/data.js';
import { registerEval } from './commands/eval.js';
import { registerReport } from './commands/report.js';
import { registerSweep } from './commands/sweep.js';
import { registerStratify } from './commands/stratify.js';
import { registerTrain } from './commands/train.js';

export function buildProgram(): Command {
  const program = new Command('adagrpo')
    .description(
      'Experiment runner for RL fine-tuning of generative recommenders.\n' +
        'A policy decodes items as semantic-ID tokens; it is trained with supervised NLL plus GRPO\n' +
        'rewarded by a ranker learned from exposure-biased logs, and AdaGRPO admits the GRPO term per\n' +
        'sample by a gate (policy-side difficulty AND reward discriminability).',
    )
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.configureOutput({ outputError: (str, write) => write(`adagrpo: error: ${str.replace(/^error: /, '')}`) });
  program.addHelpText(
    'after',
    '\nExamples:\n' +
      '  adagrpo train --config configs/quickstart.yaml        whole pipeline on the synthetic world\n' +
      '  adagrpo train --config configs/quickstart.yaml --set seed=2 --set rl.algorithm=nll\n' +
      '  adagrpo eval --run runs/quickstart_s1 --checkpoint best --split test\n' +
      '  adagrpo baseline --config configs/quickstart.yaml --model sasrec   the SASRec anchor on the same split\n' +
      '  adagrpo data inspect --config configs/beauty.yaml\n',
  );
  for (const register of [registerTrain, registerBaseline, registerEval, registerStratify, registerData, registerSweep, registerReport]) {
    const cmd = register(program);
    cmd.exitOverride();
  }
  return program;
}
