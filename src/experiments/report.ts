/**
 * `adagrpo report`: runs grouped by configuration (everything but the seed), test metrics at the
 * best and final checkpoints as mean ± 95% CI over seeds, and paired comparisons against a
 * baseline configuration on the same seeds (per-seed differences, their mean and CI, paired
 * t-test). Pairing is only meaningful when the runs of a seed share data, semantic IDs, SFT
 * policy and ranker, so `checkUpstream` refuses anything else. SFT-only runs (`train --until sft`)
 * are compared the same way, on their SFT policies, with their validation curves in brief. Beside the configurations, two
 * reference rows: most-popular, from the RL runs' own test reports, and SASRec baseline runs
 * (docs/METHOD.md 2.9) among the inputs; `references` refuses a reference tested on other data
 * or other test users. Pure functions over run folders; the command file only prints and writes.
 */
import { diffPaths } from '../config/diff.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { markdownTable, toCsv } from '../io/tables.js';
import { hashOf, stableStringify } from '../hash.js';
import { evalReportFile, isSasrecRun, readEvalReport, sameUsers, usersText, type EvalReport, type EvalUsers } from '../runs/evalReport.js';
import { readMeta, type RunStatus } from '../runs/meta.js';
import { meanOverRlSteps, readMetrics, type MetricsRow } from '../runs/metrics.js';
import { readRunConfig } from '../runs/run.js';
import { readUpstream, type Upstream } from '../runs/upstream.js';
import { meanCi, pairedTTest, type MeanCi, type PairedTest } from '../stats.js';
import { readSweepRecord, stagePointers, type SweepRunEntry } from './sweep.js';
import { parseValue } from './grid.js';

export const CHECKPOINTS = ['best', 'final'] as const;
export type Checkpoint = (typeof CHECKPOINTS)[number];
export const DEFAULT_METRICS = ['hr@10', 'ndcg@10', 'hallucination@10'];

export interface RunRecord {
  dir: string;
  /** Folder name, e.g. quickstart-rl.algorithm_nll_s1. */
  label: string;
  config: Config;
  seed: number;
  status: RunStatus;
  /**
   * Whose model is tested: the RL policy's (`train`), the SFT policy's (`train --until sft` or
   * `--until ranker`: its test rows are the sft stage's) or a SASRec baseline's (`baseline --model sasrec`).
   */
  stage: TestedStage;
  /** Test metrics of the stage's model at each checkpoint (absent when not evaluated). */
  test: Partial<Record<Checkpoint, Record<string, number>>>;
  /** Its test report files, where present: the number of test users and the most-popular figures. */
  reports: Partial<Record<Checkpoint, EvalReport>>;
  upstream: Upstream;
}

export type TestedStage = 'rl' | 'sft' | 'sasrec';

/**
 * The stage whose model a run tested: sasrec for a baseline folder; sft for a policy run that
 * stopped before RL (it logged sft test rows and no rl row); rl otherwise.
 */
export function testedStage(runDir: string): TestedStage {
  if (isSasrecRun(runDir)) return 'sasrec';
  const rows = readMetrics(runDir);
  const sftOnly = !rows.some((r) => r.stage === 'rl') && rows.some((r) => r.stage === 'sft' && r.kind === 'test');
  return sftOnly ? 'sft' : 'rl';
}

/** `<run>/eval/<stage>-<checkpoint>-test.json` at best and final, where present. */
export function readTestReports(runDir: string, stage: TestedStage): RunRecord['reports'] {
  const out: RunRecord['reports'] = {};
  for (const ck of CHECKPOINTS) {
    const file = evalReportFile(runDir, stage, ck, 'test');
    if (fs.existsSync(file)) out[ck] = readEvalReport(file);
  }
  return out;
}

/** Fields of a metrics.jsonl row that are bookkeeping, not metrics. */
const ROW_FIELDS = new Set(['stage', 'time', 'kind', 'checkpoint', 'step', 'split']);

/**
 * Test metrics at best and final: the last `kind: 'test'` row of the stage in metrics.jsonl,
 * train's (or baseline's) own record of its test evaluation; else `<run>/eval/<stage>-<checkpoint>-test.json`,
 * the file of that evaluation (an `adagrpo eval` with other settings writes another file).
 */
export function readTestMetrics(runDir: string, stage: TestedStage = 'rl', reports = readTestReports(runDir, stage)): RunRecord['test'] {
  const out: RunRecord['test'] = {};
  const rows = readMetrics(runDir, { stage, kind: 'test' });
  for (const ck of CHECKPOINTS) {
    const row = rows.filter((r) => r.checkpoint === ck).pop();
    if (row) {
      out[ck] = Object.fromEntries(Object.entries(row).filter(([k, v]) => !ROW_FIELDS.has(k) && typeof v === 'number')) as Record<string, number>;
      continue;
    }
    const report = reports[ck];
    if (report) out[ck] = report.metrics;
  }
  return out;
}

export function loadRun(dir: string, entry?: SweepRunEntry): RunRecord {
  const config = readRunConfig(dir);
  const status = readMeta(dir).status;
  const stage = testedStage(dir);
  const reports = readTestReports(dir, stage);
  return {
    dir,
    label: path.basename(path.resolve(dir)),
    config,
    seed: config.seed,
    status,
    stage,
    test: readTestMetrics(dir, stage, reports),
    reports,
    // The folder's own records are the truth (upstream.json: data, SID, SFT and ranker hashes,
    // written by train; stage pointers); the sweep's record fills in for older folders.
    upstream: { ...(entry?.upstream ?? {}), ...stagePointers(dir), ...readUpstream(dir) },
  };
}

export interface Collected {
  /** The policy runs: all RL runs, or all SFT-only runs (the report compares one or the other). */
  runs: RunRecord[];
  /** SASRec baseline runs among the inputs (recognised by their sasrec/ folder): reference rows. */
  sasrec: RunRecord[];
  /** Sweep folders among the inputs (where the report is written by default). */
  sweepDirs: string[];
  /** Runs left out, and why. */
  notes: string[];
}

/**
 * Run folders (config.yaml) and sweep folders (sweep.json) → the completed runs, in the order
 * given; SASRec baseline run folders go apart, as references.
 */
export function collectRuns(paths: readonly string[]): Collected {
  if (paths.length === 0) throw new UserError('report: give run folders or a sweep folder (<runsDir>/sweeps/<name>)');
  const out: Collected = { runs: [], sasrec: [], sweepDirs: [], notes: [] };
  const seen = new Set<string>();
  const add = (dir: string, entry?: SweepRunEntry) => {
    const abs = path.resolve(dir);
    if (seen.has(abs)) return;
    seen.add(abs);
    const run = loadRun(dir, entry);
    if (run.status !== 'completed') {
      out.notes.push(`${run.label}: left out (status ${run.status}); finish it with ${run.stage === 'sasrec' ? '"baseline --resume"' : '"sweep" or "train --resume"'}`);
      return;
    }
    (run.stage === 'sasrec' ? out.sasrec : out.runs).push(run);
  };
  for (const p of paths) {
    if (!fs.existsSync(p) || !fs.statSync(p).isDirectory()) throw new UserError(`report: ${p} is not a folder`);
    const sweep = readSweepRecord(p);
    if (sweep) {
      out.sweepDirs.push(p);
      for (const e of sweep.runs) {
        const dir = path.join(p, e.dir);
        if (!fs.existsSync(dir)) {
          out.notes.push(`${path.basename(dir)}: left out (not started)`);
          continue;
        }
        add(dir, e);
      }
    } else if (fs.existsSync(path.join(p, 'config.yaml'))) add(p);
    else throw new UserError(`report: ${p} is neither a run folder (no config.yaml) nor a sweep folder (no sweep.json)`);
  }
  if (out.runs.length === 0 && out.sasrec.length > 0) {
    throw new UserError(
      `report: only SASRec baseline runs among ${paths.join(', ')}; the report compares RL runs and puts SASRec beside them. ` +
        'Add the RL run folders or their sweep folder.',
    );
  }
  if (out.runs.length === 0) throw new UserError(`report: no completed runs among ${paths.join(', ')}${out.notes.length ? `:\n  ${out.notes.join('\n  ')}` : ''}`);
  const rl = out.runs.find((r) => r.stage === 'rl');
  const sft = out.runs.find((r) => r.stage === 'sft');
  if (rl && sft) {
    throw new UserError(
      `report: ${rl.label} is an RL run and ${sft.label} stopped after SFT (train --until sft); a report compares RL runs or SFT policies, not both. ` +
        'Report them separately (an RL run\'s SFT policy: "adagrpo eval --run <run> --stage sft").',
    );
  }
  return out;
}

/** Config → dot path → value (arrays are leaves). */
export function flatten(v: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, v);
  return out;
}


/**
 * What identifies a configuration: the config less the seed, the keys that name or place a run
 * or choose the backend and its threads, and rl.randomGate unless the random gate is the algorithm.
 * A control matched to the run of its own seed (`..._s<seed>` in rl.randomGate.matchRun or
 * rl.lambdaMatchRun) names its seed; that is written back as `_s{seed}` so the seeds of one
 * configuration group together.
 */
export function configIdentity(config: Config): Record<string, unknown> {
  // threads, like backend, changes how fast, not what (bit-identical results: docs/PERFORMANCE.md).
  const { seed, name, runsDir, backend, threads, ...rest } = config;
  void name;
  void runsDir;
  void backend;
  void threads;
  const unseeded = (run: string | undefined) => (run && run.endsWith(`_s${seed}`) ? `${run.slice(0, -String(seed).length)}{seed}` : run);
  // Only the random gate reads rl.randomGate (a sweep may set matchRun on every cell): elsewhere it
  // is inert and must not split configurations.
  const { randomGate, ...rl } = rest.rl;
  return {
    ...rest,
    rl: {
      ...rl,
      lambdaMatchRun: unseeded(rl.lambdaMatchRun),
      ...(rl.algorithm === 'random-gate' ? { randomGate: { ...randomGate, matchRun: unseeded(randomGate.matchRun) } } : {}),
    },
  };
}

/**
 * What identifies a SASRec baseline's configuration: the sections its training and test read
 * (docs/METHOD.md 2.9). The RL settings its config file also carries do not split it.
 */
export function sasrecIdentity(config: Config): Record<string, unknown> {
  return { data: config.data, sasrec: config.sasrec, eval: config.eval };
}

export interface ConfigGroup {
  key: string;
  /** `k=v, k=v` over the keys in which the groups differ (the grid values, for a sweep). */
  label: string;
  /** Those keys and values, for CSV columns. */
  values: Record<string, string>;
  identity: Record<string, unknown>;
  /** Sorted by seed. */
  runs: RunRecord[];
}

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? 'null');

/** Group runs by configuration identity, in order of first appearance; refuses two runs of one configuration and seed. */
export function groupRuns(runs: readonly RunRecord[], identityOf: (c: Config) => Record<string, unknown> = configIdentity): ConfigGroup[] {
  const byKey = new Map<string, ConfigGroup>();
  for (const r of runs) {
    const identity = identityOf(r.config);
    const key = hashOf(identity);
    let g = byKey.get(key);
    if (!g) {
      g = { key, label: '', values: {}, identity, runs: [] };
      byKey.set(key, g);
    }
    const twin = g.runs.find((x) => x.seed === r.seed);
    if (twin) {
      throw new UserError(
        `${twin.dir} and ${r.dir} have the same configuration and seed ${r.seed}; one of them would be counted twice. Pass only one of them.`,
      );
    }
    g.runs.push(r);
  }
  const groups = [...byKey.values()];
  for (const g of groups) g.runs.sort((a, b) => a.seed - b.seed);
  const flat = groups.map((g) => flatten(g.identity));
  const varying = [...new Set(flat.flatMap((f) => [...f.keys()]))].filter((k) => new Set(flat.map((f) => stableStringify(f.get(k)))).size > 1);
  for (const [i, g] of groups.entries()) {
    g.values = Object.fromEntries(varying.map((k) => [k, show(flat[i].get(k))]));
    // A key this group does not set (e.g. another control's matchRun) says nothing about it.
    const own = varying.filter((k) => flat[i].get(k) !== undefined && flat[i].get(k) !== null);
    g.label = own.length ? own.map((k) => `${k}=${g.values[k]}`).join(', ') : g.runs[0].label.replace(/_s\d+$/, '');
  }
  return groups;
}

/** Config sections each upstream artefact depends on (pipeline.stageKey), to explain a mismatch. */
const DEPENDS: Record<'data' | 'sid' | 'sft' | 'ranker', string[]> = {
  data: ['data'],
  sid: ['data', 'sid'],
  sft: ['data', 'sid', 'policy', 'sft', 'eval'],
  ranker: ['data', 'ranker', 'eval'],
};
const WHAT = { data: 'data', sid: 'semantic IDs', sft: 'SFT stage', ranker: 'ranker stage' };

/** The settings two runs differ in among those `part` depends on (where the data cache lives does not count). */
function settingsDiff(a: RunRecord, b: RunRecord, part: keyof typeof DEPENDS): string[] {
  const pick = (c: Config) => {
    const { processedDir, name, ...data } = c.data;
    void processedDir;
    void name;
    const all: Record<string, unknown> = { ...c, data };
    return Object.fromEntries(DEPENDS[part].map((s) => [s, all[s]]));
  };
  return diffPaths(pick(a.config), pick(b.config));
}

/**
 * How b's data or semantic IDs differ from a's, or null when they do not: the hashes where both
 * runs recorded them, else the settings.
 */
function upstreamMismatch(a: RunRecord, b: RunRecord, part: 'data' | 'sid'): string | null {
  const [ha, hb] = [a.upstream[part], b.upstream[part]];
  const diff = settingsDiff(a, b, part);
  if (ha && hb ? ha === hb : diff.length === 0) return null;
  return (
    `${WHAT[part]} differ: ${a.label}${ha ? ` (${part} hash ${ha})` : ''} vs ${b.label}${hb ? ` (${part} hash ${hb})` : ''}` +
    (diff.length ? `; settings that differ: ${diff.join(', ')}` : '; same settings, so the input files changed between the runs')
  );
}

/**
 * Refuse (UserError naming the runs and what differs) unless every run used the same data and
 * semantic IDs, and the runs of each seed share one SFT stage and one ranker stage. Hashes are
 * compared where the sweep or the run recorded them, the settings where it did not. SFT-only runs
 * are compared on their SFT stage itself, so only data and semantic IDs must agree.
 */
export function checkUpstream(runs: readonly RunRecord[]): void {
  const problems: string[] = [];
  for (const part of ['data', 'sid'] as const) {
    const ref = runs[0];
    for (const r of runs.slice(1)) {
      const problem = upstreamMismatch(ref, r, part);
      if (problem) {
        problems.push(problem);
        break;
      }
    }
  }
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  for (const seed of seeds) {
    const ofSeed = runs.filter((r) => r.seed === seed);
    for (const stage of runs.some((r) => r.stage === 'sft') ? [] : (['sft', 'ranker'] as const)) {
      const byHash = new Map<string, RunRecord[]>();
      for (const r of ofSeed) {
        const h = r.upstream[stage];
        if (h) byHash.set(h, [...(byHash.get(h) ?? []), r]);
      }
      if (byHash.size > 1) {
        const sets = [...byHash.entries()].map(([h, rs]) => `${stage}-${h}: ${rs.map((r) => r.label).join(', ')}`);
        const [a, b] = [...byHash.values()].map((rs) => rs[0]);
        const diff = settingsDiff(a, b, stage);
        problems.push(
          `seed ${seed}: the runs do not share one ${WHAT[stage]} (${sets.join('; ')})` + (diff.length ? `; settings that differ: ${diff.join(', ')}` : ''),
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new UserError(
      `cannot compare these runs: their data or upstream stages differ:\n  - ${problems.join('\n  - ')}\n` +
        'A comparison over seeds needs every configuration of a seed to start from the same data, semantic IDs, SFT policy ' +
        'and ranker (a sweep over RL settings guarantees it). Report such runs separately.',
    );
  }
}

/** The rows printed beside the RL configurations. */
export interface References {
  /**
   * Most-popular on the RL runs' test users, from their test reports: the same list for every
   * user, so one figure per metric (no seeds, and the same at both checkpoints); null when no RL
   * run has a test report.
   */
  popular: Record<string, number> | null;
  /** SASRec baseline runs grouped by configuration, labelled `SASRec (…)`. */
  sasrec: ConfigGroup[];
}

/** The test users a run's test report decoded (how many, how chosen), undefined without a report. */
const reportedUsers = (r: RunRecord): EvalUsers | undefined => r.reports.best ?? r.reports.final;
const usersOf = (r: RunRecord) => {
  const u = reportedUsers(r);
  return u !== undefined ? usersText(u, 'test') : `eval.testMaxUsers ${r.config.eval.testMaxUsers} (0 = all)`;
};

/**
 * The reference rows, refusing (UserError) one tested on other data or other users than the RL
 * runs. Most-popular comes from the RL runs' own reports, so they must agree on their number of
 * test users. A SASRec run must have their data (hash where both recorded it, else the settings)
 * and their test users: the same number chosen the same way (eval.userSample), which on the same
 * data is the same users. Semantic IDs do not matter: SASRec reads item ids.
 */
export function references(runs: readonly RunRecord[], sasrec: readonly RunRecord[]): References {
  const tested = runs.filter((r) => reportedUsers(r) !== undefined);
  const ref = tested[0] ?? runs[0];
  const odd = tested.find((r) => !sameUsers(reportedUsers(r)!, reportedUsers(ref)!));
  if (odd) {
    throw new UserError(
      `cannot compare these runs: they were tested on different users: ${ref.label} on ${usersOf(ref)}, ${odd.label} on ${usersOf(odd)} ` +
        `(eval.testMaxUsers ${ref.config.eval.testMaxUsers} vs ${odd.config.eval.testMaxUsers}). Their rows, and the most-popular row, ` +
        'would not be on the same users. Report them separately.',
    );
  }
  const problems: string[] = [];
  for (const s of sasrec) {
    const data = upstreamMismatch(ref, s, 'data');
    if (data) problems.push(data);
    const [a, b] = [reportedUsers(ref), reportedUsers(s)];
    // Without a report on one side, the setting that chooses the users.
    if (a !== undefined && b !== undefined ? !sameUsers(a, b) : ref.config.eval.testMaxUsers !== s.config.eval.testMaxUsers) {
      problems.push(`test users differ: ${ref.label} on ${usersOf(ref)} vs ${s.label} on ${usersOf(s)}`);
    }
  }
  if (problems.length > 0) {
    throw new UserError(
      `cannot put SASRec beside these runs: it was not tested on their data and test users:\n  - ${problems.join('\n  - ')}\n` +
        `Train the baseline from the RL runs' own config, e.g. "adagrpo baseline --config ${path.join(ref.dir, 'config.yaml')} --model sasrec" ` +
        '(with --set seed=N for each seed), or leave the SASRec folders out.',
    );
  }
  const reported = tested.map((r) => (r.reports.best ?? r.reports.final)!.popular).find((p) => Object.keys(p).length > 0);
  const groups = sasrec.length ? groupRuns(sasrec, sasrecIdentity) : [];
  for (const g of groups) g.label = `SASRec (${g.label})`;
  return { popular: reported ?? null, sasrec: groups };
}

/** `--baseline key=value` (repeatable): the conditions a baseline configuration meets. */
export function parseBaseline(exprs: readonly string[]): { key: string; value: unknown }[] {
  return exprs.map((e) => {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new UserError(`--baseline expects key.path=value, e.g. rl.algorithm=nll; got "${e}"`);
    return { key: e.slice(0, eq).trim(), value: parseValue(e.slice(eq + 1)) };
  });
}

/**
 * For each group, its baseline: among the groups meeting every condition, the one equal to the
 * group except at the baseline keys (nll at the same λ as grpo+nll at that λ); else the only
 * baseline group there is; else none. A group is not compared with itself.
 */
export function baselineFor(groups: readonly ConfigGroup[], conditions: readonly { key: string; value: unknown }[]): Map<ConfigGroup, ConfigGroup> {
  const matches = (g: ConfigGroup) => {
    const f = flatten(g.identity);
    return conditions.every((c) => stableStringify(f.get(c.key)) === stableStringify(c.value));
  };
  for (const c of conditions) {
    if (!groups.some((g) => flatten(g.identity).has(c.key))) throw new UserError(`--baseline ${c.key}: no such config key`);
  }
  const bases = groups.filter(matches);
  if (bases.length === 0) {
    const seen = conditions.map((c) => `${c.key} takes ${[...new Set(groups.map((g) => show(flatten(g.identity).get(c.key))))].join(', ')}`);
    throw new UserError(`--baseline ${conditions.map((c) => `${c.key}=${show(c.value)}`).join(' ')} matches no configuration (${seen.join('; ')})`);
  }
  const keys = new Set(conditions.map((c) => c.key));
  const rest = (g: ConfigGroup) => stableStringify([...flatten(g.identity)].filter(([k]) => !keys.has(k)));
  const out = new Map<ConfigGroup, ConfigGroup>();
  for (const g of groups) {
    if (bases.includes(g)) continue;
    const twin = bases.find((b) => rest(b) === rest(g));
    const base = twin ?? (bases.length === 1 ? bases[0] : undefined);
    if (base) out.set(g, base);
  }
  return out;
}

export interface SummaryRow {
  group: ConfigGroup;
  checkpoint: Checkpoint;
  metric: string;
  ci: MeanCi;
  seeds: number[];
  values: number[];
}

/** Mean and 95% CI over the seeds that have the metric, per group × checkpoint × metric. */
export function summarize(groups: readonly ConfigGroup[], metrics: readonly string[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const ck of CHECKPOINTS) {
    for (const group of groups) {
      for (const metric of metrics) {
        const have = group.runs.filter((r) => typeof r.test[ck]?.[metric] === 'number');
        const values = have.map((r) => r.test[ck]![metric]);
        rows.push({ group, checkpoint: ck, metric, ci: meanCi(values), seeds: have.map((r) => r.seed), values });
      }
    }
  }
  return rows;
}

export interface PairedRow {
  group: ConfigGroup;
  baseline: ConfigGroup;
  checkpoint: Checkpoint;
  metric: string;
  seeds: number[];
  test: PairedTest;
}

/** group − baseline on each seed both have (with the metric), paired t-test over those seeds. */
export function compare(groups: readonly ConfigGroup[], baselines: Map<ConfigGroup, ConfigGroup>, metrics: readonly string[]): PairedRow[] {
  const rows: PairedRow[] = [];
  for (const ck of CHECKPOINTS) {
    for (const group of groups) {
      const baseline = baselines.get(group);
      if (!baseline) continue;
      for (const metric of metrics) {
        const a: number[] = [];
        const b: number[] = [];
        const seeds: number[] = [];
        for (const r of group.runs) {
          const x = r.test[ck]?.[metric];
          const y = baseline.runs.find((s) => s.seed === r.seed)?.test[ck]?.[metric];
          if (typeof x === 'number' && typeof y === 'number') {
            a.push(x);
            b.push(y);
            seeds.push(r.seed);
          }
        }
        rows.push({ group, baseline, checkpoint: ck, metric, seeds, test: pairedTTest(a, b) });
      }
    }
  }
  return rows;
}

export interface TrainingRow {
  group: ConfigGroup;
  /** Per run: the mean over RL steps; then mean and CI over runs. */
  admission: MeanCi;
  effectiveRlWeight: MeanCi;
  steps: number[];
  /**
   * The gate's precision (docs/METHOD.md 2.5), synthetic world: the ranker's true pairwise agreement
   * on admitted and on rejected samples, and admitted − rejected. Per run, the mean over the RL
   * steps that have a finite value (a step that admits nothing has no admitted mean); the
   * difference over the steps that have both. Then mean and CI over runs.
   */
  reliabilityAdmitted: MeanCi;
  reliabilityRejected: MeanCi;
  precision: MeanCi;
  /** The same from the estimator's held-out-logs proxy (every dataset): a proxy, not the truth. */
  proxyAdmitted: MeanCi;
  proxyRejected: MeanCi;
  proxyGap: MeanCi;
}

/** Mean over RL steps (last row of a step) of f(row), skipping steps where it is not finite. */
const num = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);

/**
 * Mean admission rate and effective RL weight (λ·mean c) over each run's RL steps: what the
 * matched controls (random gate at the same admission, grpo+nll at the same effective weight)
 * must reproduce. A step logged twice (re-run after a resume) counts once, its last row.
 */
export function trainingSummary(groups: readonly ConfigGroup[]): TrainingRow[] {
  return groups.map((group) => {
    const perRun = group.runs.map((r) => {
      const rows = readMetrics(r.dir, { stage: 'rl', kind: 'train' });
      const over = (f: (row: MetricsRow) => number) => meanOverRlSteps(rows, f);
      return {
        admission: meanOverRlSteps(rows, 'admission'),
        eff: meanOverRlSteps(rows, 'effectiveRlWeight'),
        steps: new Set(rows.map((x) => x.step)).size,
        relA: over((x) => num(x.reliabilityAdmitted)),
        relR: over((x) => num(x.reliabilityRejected)),
        prec: over((x) => num(x.reliabilityAdmitted) - num(x.reliabilityRejected)),
        proxA: over((x) => num(x.proxyAdmitted)),
        proxR: over((x) => num(x.proxyRejected)),
        proxGap: over((x) => num(x.proxyAdmitted) - num(x.proxyRejected)),
      };
    });
    const ci = (f: (p: (typeof perRun)[number]) => number) => meanCi(perRun.map(f)); // meanCi drops non-finite runs
    return {
      group,
      admission: ci((p) => p.admission),
      effectiveRlWeight: ci((p) => p.eff),
      steps: perRun.map((p) => p.steps),
      reliabilityAdmitted: ci((p) => p.relA),
      reliabilityRejected: ci((p) => p.relR),
      precision: ci((p) => p.prec),
      proxyAdmitted: ci((p) => p.proxA),
      proxyRejected: ci((p) => p.proxR),
      proxyGap: ci((p) => p.proxGap),
    };
  });
}

/** Per configuration: the SFT stage's validation curve in brief, to see whether it converged. */
export interface SftTrainingRow {
  group: ConfigGroup;
  /** Per run: its last training step. */
  steps: number[];
  /** Highest validation HR@10 of each run (the best checkpoint's), mean ± CI over seeds. */
  bestValid: MeanCi;
  /** Per run: the step of that highest validation HR@10. */
  bestSteps: number[];
  /** Validation HR@10 at each run's last validation, mean ± CI: close to bestValid when the curve has flattened. */
  lastValid: MeanCi;
}

/** The sft stage's validation rows (HR@10, the selection metric of docs/METHOD.md 2.2) of each run, in brief. */
export function sftTrainingSummary(groups: readonly ConfigGroup[]): SftTrainingRow[] {
  return groups.map((group) => {
    const perRun = group.runs.map((r) => {
      const rows = readMetrics(r.dir, { stage: 'sft' });
      // A step validated twice (re-run after a resume) counts once, its last row.
      const valid = new Map<number, number>();
      for (const row of rows) if (row.kind === 'valid' && typeof row['hr@10'] === 'number') valid.set(row.step, row['hr@10']);
      const curve = [...valid].sort((a, b) => a[0] - b[0]);
      const best = curve.reduce<[number, number] | null>((b, p) => (b === null || p[1] > b[1] ? p : b), null);
      return {
        steps: Math.max(0, ...rows.filter((x) => x.kind === 'train').map((x) => x.step)),
        best,
        last: curve.length ? curve[curve.length - 1][1] : Number.NaN,
      };
    });
    return {
      group,
      steps: perRun.map((p) => p.steps),
      bestValid: meanCi(perRun.map((p) => p.best?.[1] ?? Number.NaN)),
      bestSteps: perRun.map((p) => p.best?.[0] ?? Number.NaN),
      lastValid: meanCi(perRun.map((p) => p.last)),
    };
  });
}

/**
 * SFT-only runs whose metrics.jsonl has no SFT validation row (no best step in their summary):
 * their SFT stage was reused from the shared cache (docs/METHOD.md 4), and its curve was logged by
 * the run that trained it.
 */
export function sftCurveNotes(rows: readonly SftTrainingRow[]): string[] {
  return rows.flatMap((t) =>
    t.group.runs
      .filter((_, i) => Number.isNaN(t.bestSteps[i]))
      .map((r) => `${r.label}: no SFT curve in its metrics.jsonl: it reused the SFT stage sft-${r.upstream.sft ?? '?'}, whose curve is in the metrics.jsonl of the run that trained it`),
  );
}

// ---------------------------------------------------------------------------------------------
// Rendering

const f4 = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : v === Infinity ? '+inf' : v === -Infinity ? '-inf' : '-');
const signed = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(4)}` : '-');
export const fmtP = (p: number) => (!Number.isFinite(p) ? '-' : p < 1e-4 ? '<0.0001' : p.toFixed(4));
/** `0.1234 ± 0.0040`; the ± part is omitted for a single seed (no interval). */
export const fmtCi = (ci: MeanCi) => (ci.n === 0 ? '-' : Number.isFinite(ci.half) ? `${f4(ci.mean)} ± ${f4(ci.half)}` : f4(ci.mean));
/** `+0.0123 [+0.0050, +0.0196]`: a difference with its 95% CI. */
const fmtSignedCi = (ci: MeanCi) => (ci.n === 0 ? '-' : Number.isFinite(ci.half) ? `${signed(ci.mean)} [${signed(ci.low)}, ${signed(ci.high)}]` : signed(ci.mean));
const mdTable = (header: string[], rows: string[][]) => markdownTable(header, rows, { pad: false });

export interface ReportInput {
  title: string;
  groups: ConfigGroup[];
  metrics: string[];
  summary: SummaryRow[];
  paired: PairedRow[];
  training: TrainingRow[];
  /** Present when the runs are SFT-only: their validation curves in brief, instead of the RL training table. */
  sftTraining?: SftTrainingRow[];
  baselineLabel: string | null;
  /** Most-popular and SASRec rows under the configurations (none when absent). */
  references?: References;
  notes: string[];
}

export function renderMarkdown(r: ReportInput): string {
  const nRuns = r.groups.reduce((s, g) => s + g.runs.length, 0);
  const policy = r.sftTraining ? 'SFT' : 'RL';
  const out: string[] = [
    `# ${r.title}`,
    '',
    `${nRuns} completed runs in ${r.groups.length} configuration${r.groups.length > 1 ? 's' : ''}. Test metrics of the ${policy} policy at the best checkpoint ` +
      '(highest validation HR@10) and at the final one: mean ± half-width of the 95% confidence interval over seeds ' +
      '(t distribution, n−1 degrees of freedom; no interval for one seed).',
  ];
  const popular = r.references?.popular ?? null;
  const sasrec = r.references?.sasrec ?? [];
  const sasrecSummary = summarize(sasrec, r.metrics);
  if (popular || sasrec.length) {
    out.push(
      '',
      'Reference rows, on the same data and test users: ' +
        [
          ...(popular ? ['most-popular recommends the most-trained-on items to every user (one list: one figure, no seeds)'] : []),
          ...(sasrec.length ? ['SASRec (docs/METHOD.md 2.9, `adagrpo baseline`) is mean ± 95% CI over its own seeds'] : []),
        ].join('; ') +
        `. They are not paired with the ${policy} seeds: they share no ${r.sftTraining ? 'model' : 'SFT policy or ranker'} with them.`,
    );
  }
  const groupRow = (g: ConfigGroup, ck: Checkpoint, summary: readonly SummaryRow[]) => {
    const cells = r.metrics.map((m) => fmtCi(summary.find((s) => s.group === g && s.checkpoint === ck && s.metric === m)!.ci));
    const seeds = summary.find((s) => s.group === g && s.checkpoint === ck)!.seeds;
    return [g.label, String(seeds.length), seeds.join(','), ...cells];
  };
  for (const ck of CHECKPOINTS) {
    out.push('', `## Test metrics at the ${ck} checkpoint`, '');
    const rows = r.groups.map((g) => groupRow(g, ck, r.summary));
    if (popular) rows.push(['most-popular', '-', '-', ...r.metrics.map((m) => (m in popular ? f4(popular[m]) : '-'))]);
    rows.push(...sasrec.map((g) => groupRow(g, ck, sasrecSummary)));
    out.push(mdTable(['configuration', 'n', 'seeds', ...r.metrics], rows));
  }
  if (r.baselineLabel !== null) {
    for (const ck of CHECKPOINTS) {
      const rows = r.paired.filter((p) => p.checkpoint === ck);
      out.push('', `## Paired differences against the baseline (${r.baselineLabel}), ${ck} checkpoint`, '');
      if (rows.length === 0) {
        out.push('No other configuration to compare.');
        continue;
      }
      out.push(
        'Configuration − baseline on each seed (same data, SFT policy and ranker); mean difference with its 95% CI; p: two-sided paired t-test.',
        '',
      );
      out.push(
        mdTable(
          ['configuration', 'baseline', 'metric', 'n', 'per-seed differences', 'mean diff', '95% CI', 'p'],
          rows.map((p) => [
            p.group.label,
            p.baseline.label,
            p.metric,
            String(p.test.n),
            p.seeds.map((s, i) => `s${s}: ${signed(p.test.diffs[i])}`).join(', '),
            signed(p.test.mean),
            Number.isFinite(p.test.half) ? `[${signed(p.test.low)}, ${signed(p.test.high)}]` : '-',
            fmtP(p.test.p),
          ]),
        ),
      );
    }
  }
  if (r.sftTraining) {
    out.push(
      '',
      '## SFT training',
      '',
      'Validation HR@10 (the `eval.maxUsers` validation users, every `eval.every` steps): the highest, which picks the best checkpoint, and the last. ' +
        'Mean over seeds (± 95% CI). A best step well before the last, or a last value far below the best, says the run has stopped improving.',
      '',
    );
    out.push(
      mdTable(
        ['configuration', 'n', 'steps', 'best validation HR@10', 'at step', 'last validation HR@10'],
        r.sftTraining.map((t) => [t.group.label, String(t.group.runs.length), [...new Set(t.steps)].join(','), fmtCi(t.bestValid), t.bestSteps.join(','), fmtCi(t.lastValid)]),
      ),
    );
  } else {
    out.push('', '## RL training', '', 'Mean over each run\'s RL steps, then over seeds (± 95% CI): the rates the matched controls must reproduce.', '');
    out.push(
      mdTable(
        ['configuration', 'n', 'admission rate', 'effective RL weight', 'steps'],
        r.training.map((t) => [t.group.label, String(t.group.runs.length), fmtCi(t.admission), fmtCi(t.effectiveRlWeight), [...new Set(t.steps)].join(',')]),
      ),
    );
  }
  const gated = r.training.filter((t) => t.reliabilityAdmitted.n > 0 || t.proxyAdmitted.n > 0);
  if (gated.length > 0) {
    out.push(
      '',
      '## Gate precision',
      '',
      'Synthetic world: the ranker\'s true pairwise agreement (over the truth and its negatives) on the samples the gate admitted and on those it ' +
        'rejected, and admitted − rejected (> 0: the gate admits samples on which the reward is truly more reliable). Proxy: the same from the ' +
        'estimator\'s held-out-logs proxy of reliability (margin: d itself; ensemble: member agreement; exposure: calibrated bucket accuracy; calibrated: d itself, a held-out prediction of the pairwise agreement): ' +
        'a proxy, not the true agreement. Mean over each run\'s RL steps, then over seeds (± 95% CI).',
      '',
    );
    out.push(
      mdTable(
        ['configuration', 'n', 'true agreement, admitted', 'rejected', 'admitted − rejected', 'proxy, admitted', 'proxy, rejected', 'proxy gap'],
        gated.map((t) => [
          t.group.label,
          String(t.group.runs.length),
          fmtCi(t.reliabilityAdmitted),
          fmtCi(t.reliabilityRejected),
          fmtSignedCi(t.precision),
          fmtCi(t.proxyAdmitted),
          fmtCi(t.proxyRejected),
          fmtSignedCi(t.proxyGap),
        ]),
      ),
    );
  }
  if (r.notes.length) out.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  return out.join('\n') + '\n';
}

const csv = toCsv;

/**
 * One row per configuration × checkpoint × metric; the varying keys as their own columns. The
 * reference rows follow, their key columns empty: most-popular's one figure as its mean (no
 * n, sd or interval), SASRec's configurations like the RL ones.
 */
export function summaryCsv(groups: readonly ConfigGroup[], rows: readonly SummaryRow[], references?: References): string {
  const keys = Object.keys(groups[0]?.values ?? {});
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const popular = references?.popular ?? null;
  const line = (r: SummaryRow, values: Record<string, string>) =>
    [r.group.label, ...keys.map((k) => values[k]), r.checkpoint, r.metric, r.ci.n, r.seeds.join(' '), r.ci.mean, r.ci.sd, r.ci.low, r.ci.high, r.values.join(' ')];
  return csv(
    ['configuration', ...keys, 'checkpoint', 'metric', 'n', 'seeds', 'mean', 'sd', 'ci95_low', 'ci95_high', 'values'],
    [
      ...rows.map((r) => line(r, r.group.values)),
      ...(popular
        ? CHECKPOINTS.flatMap((ck) => metrics.filter((m) => m in popular).map((m) => ['most-popular', ...keys.map(() => ''), ck, m, '', '', popular[m], '', '', '', String(popular[m])]))
        : []),
      ...summarize(references?.sasrec ?? [], metrics).map((r) => line(r, {})),
    ],
  );
}

export function pairedCsv(rows: readonly PairedRow[]): string {
  return csv(
    ['configuration', 'baseline', 'checkpoint', 'metric', 'n', 'seeds', 'differences', 'mean_diff', 'ci95_low', 'ci95_high', 't', 'df', 'p'],
    rows.map((r) => [r.group.label, r.baseline.label, r.checkpoint, r.metric, r.test.n, r.seeds.join(' '), r.test.diffs.join(' '), r.test.mean, r.test.low, r.test.high, r.test.t, r.test.df, r.test.p]),
  );
}
