import { Command } from 'commander';
import { UserError } from '../../errors.js';

export function registerEval(program: Command): Command {
  return program
    .command('eval')
    .description('Evaluate a checkpoint: HR@K, NDCG@K, hallucination rate, validity, coverage (DESIGN 2.6).')
    .requiredOption('--run <dir>', 'run folder made by "adagrpo train"')
    .option('--checkpoint <which>', 'best | final | step_N', 'best')
    .option('--split <split>', 'valid | test', 'test')
    .action(() => {
      throw new UserError('"adagrpo eval" is not built yet (issue 3); nothing was run.');
    });
}
