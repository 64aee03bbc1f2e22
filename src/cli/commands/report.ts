/**
 * `adagrpo report`: the comparison tables (and with --plots the SVG figures) of a sweep or of
 * run folders, with most-popular and SASRec baseline runs as reference rows. Markdown on stdout;
 * report.md, report.csv and report-paired.csv in the sweep folder or --out. The statistics live
 * in src/experiments/; this file reads flags and writes.
 */
import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../errors.js';
import { atomicWrite } from '../../io/atomic.js';
import { curveData, frontierData, frontierSpec, renderSvg, trainingCurvesSpec } from '../../experiments/plots.js';
import { DEFAULT_METRICS, baselineFor, checkUpstream, collectRuns, compare, groupRuns, pairedCsv, parseBaseline, references, renderMarkdown, sftCurveNotes, sftTrainingSummary, summarize, summaryCsv, trainingSummary } from '../../experiments/report.js';
import { collect } from '../options.js';

interface ReportFlags {
  baseline: string[];
  metrics: string;
  out?: string;
  plots?: boolean;
}

export function registerReport(program: Command): Command {
  return program
    .command('report')
    .summary('Compare runs over seeds: mean ± 95% CI, paired tests against a baseline, SVG plots')
    .description(
      'Compare runs over seeds: runs are grouped by configuration (everything but the seed); test metrics at ' +
        'the best and final checkpoints as mean ± 95% CI (t distribution); with --baseline, per-seed paired ' +
        'differences, their mean, 95% CI and paired t-test p-value. Refuses runs whose data, semantic IDs, ' +
        'SFT or ranker stage differ where they must be shared. Runs trained with --until sft are compared on their ' +
        'SFT policies instead (all inputs must then be such runs), with their validation curves in brief. ' +
        'Under the configurations, reference rows: ' +
        'most-popular (from the RL runs\' own test reports, same users) and, when SASRec baseline run folders ' +
        '(made by "adagrpo baseline --model sasrec") are among the folders, SASRec as mean ± 95% CI over its ' +
        'seeds; a SASRec run tested on other data or other test users is refused. Markdown on stdout; report.md, ' +
        'report.csv and report-paired.csv in the sweep folder (or --out); --plots adds plots/*.svg.',
    )
    .argument('<folders...>', 'a sweep folder (<runsDir>/sweeps/<name>), run folders, and SASRec baseline run folders (<runsDir>/<name>-sasrec_s<seed>)')
    .option('--baseline <key=value>', 'the baseline configuration, e.g. rl.algorithm=nll (repeatable: all must hold)', collect, [])
    .option('--metrics <list>', 'test metrics to tabulate, comma-separated', DEFAULT_METRICS.join(','))
    .option('--out <dir>', 'where to write the files (default: the sweep folder; without one, nothing is written)')
    .option('--plots', 'also write training curves and the HR@10 vs hallucination@10 frontier as SVG under plots/')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  adagrpo report runs/sweeps/quickstart --baseline rl.algorithm=nll --plots\n' +
        '  adagrpo report runs/qs-a_s1 runs/qs-a_s2 runs/qs-b_s1 runs/qs-b_s2 --metrics hr@10,ndcg@10 --out reports/ab\n' +
        '  adagrpo report runs/sweeps/beauty runs/beauty-sasrec_s1 runs/beauty-sasrec_s2 --baseline rl.algorithm=nll\n' +
        '                                            with SASRec rows (from "adagrpo baseline --config configs/beauty.yaml --model sasrec")\n' +
        '  adagrpo report runs/beauty-sft_s1 runs/beauty-sft-l4_s1 runs/beauty-sasrec_s1 --plots --out reports/sft\n' +
        '                                            SFT policies (train --until sft) beside SASRec, with their validation curves\n',
    )
    .action(async (folders: string[], flags: ReportFlags) => {
      const log = (line: string) => process.stderr.write(line + '\n');
      const metrics = flags.metrics.split(',').map((m) => m.trim()).filter(Boolean);
      if (metrics.length === 0) throw new UserError('--metrics: give at least one metric, e.g. hr@10');
      const conditions = parseBaseline(flags.baseline);
      // Before any work: --out is a folder the report files go into, never a file to overwrite.
      if (flags.out !== undefined && fs.existsSync(flags.out) && !fs.statSync(flags.out).isDirectory()) {
        throw new UserError(`--out ${flags.out} is an existing file; --out names a folder for report.md, report.csv and report-paired.csv. Pass a folder (new or existing).`);
      }

      const { runs, sasrec, sweepDirs, notes } = collectRuns(folders);
      const available = new Set(runs.flatMap((r) => Object.values(r.test).flatMap((m) => Object.keys(m ?? {}))));
      const unknown = metrics.filter((m) => !available.has(m));
      if (available.size > 0 && unknown.length > 0) {
        throw new UserError(`--metrics: ${unknown.join(', ')} not in the runs' test metrics (they have ${[...available].join(', ')})`);
      }
      for (const r of runs) {
        const st = r.stage;
        if (!r.test.best && !r.test.final) notes.push(`${r.label}: no test metrics (eval/${st}-best-test.json, ${st}-final-test.json); evaluate with "adagrpo eval --run ${r.dir} --stage ${st} --checkpoint best" (and --checkpoint final)`);
      }
      for (const r of sasrec) {
        if (!r.test.best && !r.test.final) notes.push(`${r.label}: no SASRec test metrics (its eval/sasrec-best-test.json and sasrec-final-test.json are missing)`);
      }
      checkUpstream(runs);
      const refs = references(runs, sasrec);
      const groups = groupRuns(runs);
      const baselines = conditions.length ? baselineFor(groups, conditions) : new Map();
      if (conditions.length) {
        const unmatched = groups.filter((g) => !baselines.has(g) && ![...baselines.values()].includes(g));
        for (const g of unmatched) notes.push(`${g.label}: no single matching baseline configuration; not compared`);
      }
      // SFT-only runs (collectRuns never mixes them with RL runs): the SFT stage is what is compared.
      const stage = runs[0].stage === 'sft' ? 'sft' : 'rl';
      const sftTraining = stage === 'sft' ? sftTrainingSummary(groups) : undefined;
      if (sftTraining) notes.push(...sftCurveNotes(sftTraining));
      const summary = summarize(groups, metrics);
      const paired = compare(groups, baselines, metrics);
      const title = sweepDirs.length ? `Report: ${sweepDirs.map((d) => path.basename(path.resolve(d))).join(', ')}` : `Report: ${runs.length} runs`;
      const md = renderMarkdown({
        title,
        groups,
        metrics,
        summary,
        paired,
        training: stage === 'rl' ? trainingSummary(groups) : [],
        sftTraining,
        baselineLabel: conditions.length ? conditions.map((c) => `${c.key}=${typeof c.value === 'string' ? c.value : JSON.stringify(c.value)}`).join(', ') : null,
        references: refs,
        notes,
      });
      process.stdout.write(md);

      const outDir = flags.out ?? (sweepDirs.length === 1 ? sweepDirs[0] : undefined);
      if (!outDir) {
        if (flags.plots) throw new UserError('--plots: say where to write them with --out <dir> (there is no single sweep folder among the inputs)');
        log('report: no single sweep folder among the inputs; pass --out <dir> to write report.md and the CSV files');
        return;
      }
      atomicWrite(path.join(outDir, 'report.md'), md);
      atomicWrite(path.join(outDir, 'report.csv'), summaryCsv(groups, summary, refs));
      const written = ['report.md', 'report.csv'];
      if (paired.length) {
        atomicWrite(path.join(outDir, 'report-paired.csv'), pairedCsv(paired));
        written.push('report-paired.csv');
      }
      if (flags.plots) {
        const name = path.basename(path.resolve(outDir));
        // SASRec's validation curve is drawn beside SFT policies (both against their training step), never beside RL steps.
        const curves = stage === 'sft' ? curveData([...groups, ...refs.sasrec], { stage }) : curveData(groups);
        atomicWrite(path.join(outDir, 'plots', 'training-curves.svg'), await renderSvg(trainingCurvesSpec(curves, `${name}: ${stage === 'sft' ? 'SFT' : 'RL'} training`, stage)));
        atomicWrite(path.join(outDir, 'plots', 'frontier.svg'), await renderSvg(frontierSpec(frontierData(summary), `${name}: HR@10 vs hallucination@10`)));
        written.push('plots/training-curves.svg', 'plots/frontier.svg');
      }
      log(`report: wrote ${written.map((w) => path.join(outDir, w)).join(', ')}`);
    });
}
