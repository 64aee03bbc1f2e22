import { Command } from 'commander';
import { prepareData } from '../../data/prepare.js';
import { formatDataStats, inspectData } from '../../data/inspect.js';
import { buildSemanticIds, codebookCandidates, formatSidStats } from '../../data/sid/build.js';
import { formatCandidates } from '../../data/sid/sizing.js';
import { UserError, isUserError } from '../../errors.js';
import { addConfigOptions, addProgressOptions, configFromFlags, printConfig, progressFromFlags, type ConfigFlags, type ProgressFlags } from '../options.js';

interface DataFlags extends ConfigFlags, ProgressFlags {
  force?: boolean;
  codebookSizes?: string;
}

function parseSizes(list: string): number[] {
  const sizes = list.split(',').map((s) => Number(s.trim()));
  if (sizes.some((k) => !Number.isInteger(k) || k < 2 || k > 4096)) {
    throw new UserError(`--codebook-sizes expects integers in [2, 4096] separated by commas, got "${list}"`);
  }
  return sizes;
}

export function registerData(program: Command): Command {
  const data = program
    .command('data')
    .description('Prepare (parse, filter, split, build semantic IDs; cached under data/processed/) or inspect a dataset.');
  const prepare = data
    .command('prepare')
    .description('Parse the configured source, k-core filter, leave-one-out split and build semantic IDs, then cache them.');
  addProgressOptions(addConfigOptions(prepare))
    .option('--force', 'rebuild even if an identical prepared copy is cached')
    .action(async (flags: DataFlags) => {
      const config = configFromFlags(flags);
      if (flags.dryRun) return printConfig(config);
      const log = (line: string) => process.stderr.write(line + '\n');
      const t0 = Date.now();
      const progress = progressFromFlags(flags);
      const p = await prepareData(config.data, { log, force: flags.force, progress });
      const s = await buildSemanticIds(
        config.sid,
        { dataset: p.dataset, splits: p.splits, dataHash: p.manifest.hash, cacheDir: p.dir },
        log,
        progress,
      );
      process.stdout.write(
        `prepared ${p.manifest.name}: ${p.manifest.counts.users} users, ${p.manifest.counts.items} items, ` +
          `${p.manifest.counts.interactions} interactions in ${((Date.now() - t0) / 1000).toFixed(1)} s` +
          `${p.cached && s.cached ? ' (all cached)' : ''}\n  data: ${p.dir}\n  semantic IDs: ${s.dir}\n`,
      );
    });
  const inspect = data
    .command('inspect')
    .description('Print dataset statistics: counts, split sizes, sequence lengths, item popularity, semantic-ID statistics.');
  addProgressOptions(addConfigOptions(inspect))
    .option('--codebook-sizes <list>', 'candidate codebook sizes K for the collision/usage table (residual k-means over sid.embedding)', '16,64,256,1024')
    .action(async (flags: DataFlags) => {
      const config = configFromFlags(flags);
      if (flags.dryRun) return printConfig(config);
      const log = (line: string) => process.stderr.write(line + '\n');
      const progress = progressFromFlags(flags);
      const p = await prepareData(config.data, { log, progress });
      const input = { dataset: p.dataset, splits: p.splits, dataHash: p.manifest.hash, cacheDir: p.dir };
      const s = await buildSemanticIds(config.sid, input, log, progress);
      const sizes = parseSizes(flags.codebookSizes ?? '16,64,256,1024');
      // Only rq-kmeans IDs are one of these candidates; a sid.file index is not, so nothing is starred.
      const ours = config.sid.method === 'rq-kmeans' ? s.sids.codebookSizes[0] : undefined;
      let table: string;
      try {
        const cands = codebookCandidates(config.sid, input, sizes, log, progress);
        table = cands.length > 0 ? formatCandidates(cands, ours) : `(the catalog has ${p.dataset.itemIds.length} items: no candidate size fits)`;
      } catch (e) {
        if (!isUserError(e)) throw e;
        table = `(not available: ${e.message})`;
      }
      process.stdout.write(
        formatDataStats(inspectData(p)) +
          '\n\nSemantic IDs\n' +
          formatSidStats(s.sids.stats) +
          `\n\nCodebook size candidates (${config.sid.levels} levels of residual k-means over ${config.sid.embedding} embeddings` +
          `${ours !== undefined ? '; * = the IDs above' : ', for comparison with the file\'s IDs above'}; ` +
          `sid.codebookSize: auto takes the smallest K of 8..1024 with collisions <= sid.collisionTarget ${config.sid.collisionTarget})\n` +
          table +
          '\n',
      );
    });
  data.exitOverride();
  prepare.exitOverride();
  inspect.exitOverride();
  return data;
}
