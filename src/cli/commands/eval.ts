/**
 * `adagrpo eval`: beam-search evaluation of one checkpoint of a run on the valid or test split
 * (DESIGN 2.6), with the most-popular baseline beside it. Prints an aligned table; writes
 * `<run>/eval/<checkpoint>-<split>.json` and `<checkpoint>-<split>.top10.jsonl`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { BACKEND_CHOICES, initBackend, type BackendChoice } from '../../backend.js';
import type { Config } from '../../config/schema.js';
import { UserError } from '../../errors.js';
import { evaluatePolicy, type EvalResult } from '../../eval/evaluate.js';
import { evaluatePopularFor } from '../../eval/popular.js';
import { atomicWrite, atomicWriteJson } from '../../io/atomic.js';
import type { CheckpointState } from '../../model/checkpoint.js';
import { resolveCheckpoint } from '../../model/checkpoint.js';
import { defaultStage } from '../../runs/policyStage.js';
import { readRunConfig } from '../../runs/run.js';
import { prepareInputs } from '../../train/inputs.js';
import { resolveStageDir } from '../../train/pipeline.js';
import { loadPolicy } from '../../train/sft.js';
import { createProgress } from '../progress.js';

interface EvalFlags {
  run: string;
  checkpoint: string;
  split: 'valid' | 'test';
  stage?: 'sft' | 'rl';
  beam?: string;
  constrained?: boolean;
  maxUsers?: string;
  backend?: BackendChoice;
  progress: boolean;
}

function positiveInt(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${flag} must be an integer >= ${min}; got "${v}"`);
  return n;
}

const fmt = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(4));

/** Rows = metrics, columns = policy and popular baseline, aligned. */
export function metricsTable(policy: Record<string, number>, popular: Record<string, number>, policyLabel: string): string {
  const names = Object.keys(policy);
  const w0 = Math.max(6, ...names.map((n) => n.length));
  const w1 = Math.max(8, policyLabel.length);
  const w2 = 8;
  const line = (a: string, b: string, c: string) => `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c.padStart(w2)}`;
  return [line('metric', policyLabel, 'popular'), line('-'.repeat(w0), '-'.repeat(w1), '-'.repeat(w2)), ...names.map((n) => line(n, fmt(policy[n]), fmt(popular[n])))].join('\n');
}

export function registerEval(program: Command): Command {
  return program
    .command('eval')
    .description('Evaluate a checkpoint: HR@K, NDCG@K, hallucination rate, validity, coverage, popularity (DESIGN 2.6).')
    .requiredOption('--run <dir>', 'run folder made by "adagrpo train"')
    .option('--checkpoint <which>', 'best | final | last | step_N', 'best')
    .addOption(new Option('--split <split>', 'which leave-one-out split').choices(['valid', 'test']).default('test'))
    .addOption(new Option('--stage <stage>', 'whose policy: rl (default when the run has one) or sft').choices(['sft', 'rl']))
    .option('--beam <W>', 'beam width (default: the run\'s eval.beam)')
    .option('--constrained', 'decode only valid SIDs (catalog trie): hallucination is then 0')
    .option('--max-users <N>', 'evaluate the first N users of the split (0 = all; default: all)')
    .addOption(new Option('--backend <name>', 'tfjs backend (default: the run\'s config)').choices([...BACKEND_CHOICES]))
    .option('--no-progress', 'no progress bar')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  adagrpo eval --run runs/quickstart_s1\n' +
        '  adagrpo eval --run runs/quickstart_s1 --checkpoint final --split valid --beam 50 --constrained\n',
    )
    .action(async (flags: EvalFlags) => {
      const log = (line: string) => process.stderr.write(line + '\n');
      const runDir = flags.run;
      if (!fs.existsSync(runDir) || !fs.statSync(runDir).isDirectory()) {
        throw new UserError(`run folder ${runDir} does not exist. Run folders are made by "adagrpo train" under runsDir (default runs/).`);
      }
      const config: Config = readRunConfig(runDir);
      const beam = positiveInt('--beam', flags.beam, 1) ?? config.eval.beam;
      const maxUsers = positiveInt('--max-users', flags.maxUsers, 0) ?? 0;
      const constrained = Boolean(flags.constrained);
      const dropped = config.eval.ks.filter((k) => k > beam);
      if (dropped.length > 0) log(`note: --beam ${beam} is narrower than K = ${dropped.join(', ')}; those metrics are not reported`);
      const stage = flags.stage ?? defaultStage(runDir);
      const stageDir = resolveStageDir(runDir, stage);
      const ckDir = resolveCheckpoint(stageDir, flags.checkpoint); // UserError listing what exists
      const state = JSON.parse(fs.readFileSync(path.join(ckDir, 'state.json'), 'utf8')) as CheckpointState;

      const backend = await initBackend(flags.backend ?? config.backend, log);
      const inputs = await prepareInputs(config, log);
      const policy = loadPolicy(stageDir, flags.checkpoint, config, { codebookSizes: inputs.sids.codebookSizes });
      let result: EvalResult;
      const users = maxUsers > 0 ? Math.min(maxUsers, inputs.splits[flags.split].length) : inputs.splits[flags.split].length;
      const bar = createProgress(`eval ${stage}/${flags.checkpoint} ${flags.split}`, users, { plain: !flags.progress });
      try {
        result = evaluatePolicy(policy, inputs, config, { split: flags.split, beam, constrained, maxUsers, keepRankings: true, progress: bar });
      } finally {
        bar.stop();
        policy.dispose();
      }
      const popular = evaluatePopularFor(inputs, config, flags.split, maxUsers, beam);

      const label = `${stage}/${flags.checkpoint}`;
      process.stdout.write(
        `${label} (step ${state.step}) on ${flags.split}: ${result.users} users, beam ${beam}${constrained ? ', constrained' : ''}, ` +
          `${backend.name}, ${result.seconds.toFixed(1)} s (${result.usersPerSec.toFixed(0)} users/s)\n\n` +
          metricsTable(result.metrics, popular.metrics, label) +
          '\n',
      );

      // Files: named by checkpoint and split; the stage is in the name only when chosen explicitly.
      const base = `${flags.stage ? `${stage}-` : ''}${flags.checkpoint}-${flags.split}`;
      const evalDir = path.join(runDir, 'eval');
      atomicWriteJson(path.join(evalDir, `${base}.json`), {
        run: runDir,
        stage,
        checkpoint: flags.checkpoint,
        step: state.step,
        split: flags.split,
        users: result.users,
        beam,
        constrained,
        ks: result.ks,
        backend: backend.name,
        seconds: result.seconds,
        usersPerSec: result.usersPerSec,
        metrics: result.metrics,
        popular: popular.metrics,
        createdAt: new Date().toISOString(),
      });
      const ids = inputs.dataset.itemIds;
      const lines = result.rankings!.map((r) =>
        JSON.stringify({
          user: inputs.dataset.userIds[r.user],
          target: ids[r.target],
          top10: Array.from(r.items.subarray(0, 10), (i) => (i >= 0 ? ids[i] : null)),
          scores: Array.from(r.scores.subarray(0, 10), (s) => (Number.isFinite(s) ? Number(s.toFixed(5)) : null)),
        }),
      );
      atomicWrite(path.join(evalDir, `${base}.top10.jsonl`), lines.join('\n') + '\n');
      log(`wrote ${path.join(evalDir, `${base}.json`)} and ${base}.top10.jsonl`);
    });
}
