import { Command } from 'commander';
import { prepareData } from '../../data/prepare.js';
import { formatDataStats, inspectData } from '../../data/inspect.js';
import { buildSemanticIds, formatSidStats } from '../../data/sid/build.js';
import { addConfigOptions, addProgressOptions, configFromFlags, printConfig, progressFromFlags, type ConfigFlags, type ProgressFlags } from '../options.js';

interface DataFlags extends ConfigFlags, ProgressFlags {
  force?: boolean;
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
  addProgressOptions(addConfigOptions(inspect)).action(async (flags: DataFlags) => {
    const config = configFromFlags(flags);
    if (flags.dryRun) return printConfig(config);
    const log = (line: string) => process.stderr.write(line + '\n');
    const progress = progressFromFlags(flags);
    const p = await prepareData(config.data, { log, progress });
    const s = await buildSemanticIds(config.sid, { dataset: p.dataset, splits: p.splits, dataHash: p.manifest.hash, cacheDir: p.dir }, log, progress);
    process.stdout.write(formatDataStats(inspectData(p)) + '\n\nSemantic IDs\n' + formatSidStats(s.sids.stats) + '\n');
  });
  data.exitOverride();
  prepare.exitOverride();
  inspect.exitOverride();
  return data;
}
