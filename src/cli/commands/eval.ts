/**
 * `adagrpo eval`: beam-search evaluation of one checkpoint of a run on the valid or test split
 * (docs/METHOD.md 2.6), with the most-popular baseline beside it, and with --sasrec the test
 * report of a SASRec baseline run on the same users (2.9). Prints an aligned table; writes
 * `<run>/eval/<stage>-<checkpoint>-<split>[-beamW][-constrained][-nN].json` and `.top10.jsonl` (see evalFileBase).
 */
import path from 'node:path';
import { addProgressOptions, progressFromFlags, runBackend, userSampleOption } from '../options.js';
import { Command, Option } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from '../../backend.js';
import type { Config } from '../../config/schema.js';
import { UserError } from '../../errors.js';
import { evaluateCheckpoint } from '../../eval/checkpointEval.js';
import { sampledUsers, type UserSample } from '../../eval/evaluate.js';
import { evaluateRanker, formatRankerEval } from '../../eval/rankerEval.js';
import { atomicWriteJson } from '../../io/atomic.js';
import { resolveCheckpoint } from '../../model/checkpoint.js';
import { defaultStage, requireRunDir, requireWritable } from '../../runs/policyStage.js';
import { readRunConfig } from '../../runs/run.js';
import { loadRanker } from '../../model/load.js';
import { prepareInputs } from '../../data/inputs.js';
import { dataKey } from '../../data/prepare.js';
import { assertTrainedOn } from '../../runs/upstream.js';
import { resolveStageDir } from '../../runs/stages.js';
import { assertSasrecUsers, sasrecReportFor } from '../../train/baseline.js';

interface EvalFlags {
  run: string;
  ranker?: boolean;
  checkpoint: string;
  split: 'valid' | 'test';
  stage?: 'sft' | 'rl';
  beam?: string;
  constrained?: boolean;
  maxUsers?: string;
  userSample?: UserSample;
  backend?: BackendChoice;
  threads?: string;
  sasrec?: string;
  progress: boolean;
  logEvery: string;
}

function positiveInt(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${flag} must be an integer >= ${min}; got "${v}"`);
  return n;
}

const fmt = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(4));

/** Rows = the first column's metrics; columns = the policy, then its references (popular, SASRec), aligned. */
export function metricsTable(columns: readonly { label: string; metrics: Record<string, number> }[]): string {
  const names = Object.keys(columns[0].metrics);
  const w0 = Math.max(6, ...names.map((n) => n.length));
  const ws = columns.map((c) => Math.max(8, c.label.length));
  const line = (name: string, cells: readonly string[]) => [name.padEnd(w0), ...cells.map((c, i) => c.padStart(ws[i]))].join('  ');
  return [
    line('metric', columns.map((c) => c.label)),
    line('-'.repeat(w0), ws.map((w) => '-'.repeat(w))),
    ...names.map((n) => line(n, columns.map((c) => fmt(c.metrics[n])))),
  ].join('\n');
}

export function registerEval(program: Command): Command {
  return addProgressOptions(program.command('eval'))
    .description('Evaluate a checkpoint: HR@K, NDCG@K, hallucination rate, validity, coverage, popularity (docs/METHOD.md 2.6).')
    .requiredOption('--run <dir>', 'run folder made by "adagrpo train"')
    .option('--checkpoint <which>', 'best | final | last | step_N', 'best')
    .addOption(new Option('--split <split>', 'which leave-one-out split').choices(['valid', 'test']).default('test'))
    .addOption(new Option('--stage <stage>', 'whose policy: rl (default when the run has one) or sft').choices(['sft', 'rl']))
    .option('--beam <W>', 'beam width (default: the run\'s eval.beam)')
    .option('--constrained', 'decode only valid SIDs (catalog trie): hallucination is then 0')
    .option('--max-users <N>', 'evaluate N users of the split, chosen by --user-sample (0 = all; default: all)')
    .addOption(userSampleOption())
    .addOption(new Option('--backend <name>', 'tfjs backend (default: the run\'s config)').choices([...BACKEND_CHOICES]))
    .option('--threads <n>', 'XNNPACK threads of the wasm backend (default: the run\'s config)')
    .option('--ranker', "evaluate the run's ranker instead: AUC/GAUC overall and by popularity bucket (and fresh items, utility correlation on the synthetic world)")
    .option(
      '--sasrec <dir>',
      'add a SASRec column: the test report (eval/sasrec-<checkpoint>-test.json) of a run folder made by "adagrpo baseline --model sasrec" ' +
        'on the same data; the policy must be evaluated on the same users (--split test, --max-users as the baseline tested)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  adagrpo eval --run runs/quickstart_s1\n' +
        '  adagrpo eval --run runs/quickstart_s1 --checkpoint final --split valid --beam 50 --constrained\n' +
        '  adagrpo eval --run runs/quickstart_s1 --ranker --split valid      the reward model: AUC by popularity bucket\n' +
        '  adagrpo eval --run runs/quickstart_s1 --sasrec runs/quickstart-sasrec_s1\n' +
        '                                            SASRec beside the policy (from "adagrpo baseline --config configs/quickstart.yaml --model sasrec")\n',
    )
    .action(async (flags: EvalFlags) => {
      const log = (line: string) => process.stderr.write(line + '\n');
      const runDir = flags.run;
      requireRunDir(runDir);
      const config: Config = readRunConfig(runDir);
      const beam = positiveInt('--beam', flags.beam, 1) ?? config.eval.beam;
      const maxUsers = positiveInt('--max-users', flags.maxUsers, 0) ?? 0;
      if (flags.ranker && flags.sasrec !== undefined) throw new UserError('--sasrec adds a column to a policy evaluation; it does not go with --ranker');
      if (flags.ranker) {
        // Resolve the checkpoint before the (slower) data load, so a wrong name fails at once.
        resolveCheckpoint(resolveStageDir(runDir, 'ranker'), flags.checkpoint);
      } else {
        resolveCheckpoint(resolveStageDir(runDir, flags.stage ?? defaultStage(runDir)), flags.checkpoint);
      }
      // Before anything is prepared or written: the run must be scored on the data it learned from.
      const data = (await dataKey(config.data)).hash;
      assertTrainedOn(runDir, { data }, 'eval');
      const sasrec = flags.sasrec === undefined ? null : sasrecReportFor(flags.sasrec, runDir, { checkpoint: flags.checkpoint, split: flags.split, data });
      requireWritable(runDir, 'eval writes its results into the run folder');
      const backend = await runBackend(flags, config, log);
      const inputs = await prepareInputs(config, log, progressFromFlags(flags));
      assertTrainedOn(runDir, { data: inputs.manifest.hash, sid: inputs.sidHash }, 'eval');

      if (flags.ranker) {
        const ranker = loadRanker(resolveStageDir(runDir, 'ranker'), flags.checkpoint, config);
        let result;
        try {
          result = await evaluateRanker(ranker, inputs.dataset, inputs.splits, config, { split: flags.split, maxUsers });
        } finally {
          ranker.dispose();
        }
        process.stdout.write(`ranker/${flags.checkpoint} on ${flags.split}, ${backend.name}\n${formatRankerEval(result)}\n`);
        const file = path.join(runDir, 'eval', `ranker-${flags.checkpoint}-${flags.split}.json`);
        atomicWriteJson(file, { run: runDir, checkpoint: flags.checkpoint, backend: backend.name, ...result, createdAt: new Date().toISOString() });
        log(`wrote ${file}`);
        return;
      }

      const stage = flags.stage ?? defaultStage(runDir);
      const chosen = sampledUsers(inputs, flags.split, maxUsers, flags.userSample ?? config.eval.userSample);
      // Before the (slow) decoding.
      if (sasrec) assertSasrecUsers(sasrec, flags.sasrec!, chosen);
      const bar = progressFromFlags(flags)(`eval ${stage}/${flags.checkpoint} ${flags.split}`, chosen.users, 'users');
      let report;
      try {
        report = await evaluateCheckpoint(runDir, config, inputs, {
          stage,
          checkpoint: flags.checkpoint,
          split: flags.split,
          beam,
          // Without the flag, the run's own eval.constrained applies.
          constrained: flags.constrained ? true : undefined,
          maxUsers,
          userSample: flags.userSample,
          backendName: backend.name,
          progress: bar,
          log,
        });
      } finally {
        bar.stop();
      }
      const label = `${stage}/${flags.checkpoint}`;
      const dropped = config.eval.ks.filter((k) => k > beam);
      process.stdout.write(
        `${label} (step ${report.step}) on ${flags.split}: ${report.users} users, beam ${beam}${report.constrained ? ', constrained' : ''}, ` +
          `${backend.name}, ` +
          (report.reusedFrom
            ? `reused: ${report.reusedFrom} evaluated the same weights with the same settings\n\n`
            : `${report.seconds.toFixed(1)} s (${(report.users / Math.max(report.seconds, 1e-9)).toFixed(0)} users/s)\n\n`) +
          metricsTable([
            { label, metrics: report.metrics },
            { label: 'popular', metrics: report.popular },
            ...(sasrec ? [{ label: `sasrec/${sasrec.checkpoint}`, metrics: sasrec.metrics }] : []),
          ]) +
          '\n' +
          (dropped.length ? `(K = ${dropped.join(', ')} left out: larger than the beam)\n` : ''),
      );
      if (sasrec) log(`sasrec/${sasrec.checkpoint}: ${sasrec.file} (step ${sasrec.step}, ${sasrec.users} users)`);
      log(`wrote ${report.file} and its .top10.jsonl`);
    });
}
