import { Command } from 'commander';
import { UserError } from '../../errors.js';

export function registerStratify(program: Command): Command {
  return program
    .command('stratify')
    .description(
      'Diagnostic tables of where the ranker helps or hurts (DESIGN 2.7): HR under beam (LLM) order vs\n' +
        'ranker (RM) order, by policy difficulty and by reward discriminability.',
    )
    .requiredOption('--run <dir>', 'run folder made by "adagrpo train"')
    .option('--checkpoint <which>', 'best | final | step_N', 'best')
    .option('--split <split>', 'valid | test', 'test')
    .option('--beam <W>', 'beam width')
    .option('--compare <run>', 'another run: per cell, this run\'s HR@10 minus the other\'s')
    .action(() => {
      throw new UserError('"adagrpo stratify" is not built yet (issue 6); nothing was run.');
    });
}
