/**
 * The stratified diagnostic tables of docs/METHOD.md 2.7 (the paper's Tables 1-3), pure functions over
 * per-sample records: no tfjs here. The runner (stratifyRun.ts) beam-searches, scores with the
 * ranker and builds the records; this file bins them and writes the tables.
 *
 * Per sample i: the beam in "LLM order" (beam order) and the same candidates in "RM order" (valid
 * ones re-ranked by ranker score, invalid ones last); the difficulty, as the ground truth's rank
 * in the beam or log pi(y|x), the policy's log-probability of it; d_i, the gate's discriminability
 * from the run's own estimator (margin: share of negatives the ranker scores below the truth, ties ½); on the synthetic world the
 * ranker's true reliability over the same items.
 *
 * Conventions: HR and NDCG come from metrics.ts (hitAt, ndcgAt); a mean over no samples is NaN and
 * prints as "-"; a NaN d_i (no negatives) is "not discriminable", as in the gate (NaN ≥ ρ is false),
 * so it lands in the lowest discriminability bin and is left out of mean d.
 */
import { UserError } from '../errors.js';
import { hitAt, ndcgAt } from './metrics.js';
import { markdownTable, toCsv } from '../io/tables.js';
import { mean } from '../stats.js';

/** One evaluated sample, as the tables need it. */
export interface StratSample {
  user: number;
  target: number;
  /** [W] beam items, best first (LLM order); < 0 = invalid tuple (INVALID) or no beam (EMPTY). */
  llm: ArrayLike<number>;
  /** [W] the same entries in RM order (see rmOrder). */
  rm: ArrayLike<number>;
  /** d_i in [0, 1]; NaN when the sample has no negatives. */
  disc: number;
  /** log pi(y|x): the policy's log-probability of the ground truth, summed over its levels (nats). */
  gtLogProb: number;
  /** Synthetic world: the ranker's pairwise agreement with the true utility over the truth and its negatives; NaN otherwise. */
  reliability: number;
  /** --compare: the other run's beam for the same sample (LLM order). */
  other?: ArrayLike<number>;
}

/**
 * RM order of a beam: valid items (≥ 0) by ranker score, highest first, ties in beam order; then
 * the invalid entries in beam order. `scores` [W] is aligned with `items` [W] (NaN for invalid).
 */
export function rmOrder(items: ArrayLike<number>, scores: ArrayLike<number>): Int32Array {
  const idx = Array.from({ length: items.length }, (_, j) => j);
  const valid = idx.filter((j) => items[j] >= 0);
  const invalid = idx.filter((j) => items[j] < 0);
  valid.sort((a, b) => scores[b] - scores[a] || a - b);
  return Int32Array.from([...valid, ...invalid], (j) => items[j]);
}

/** 1-based rank of `target` in `items`; 0 when absent. */
export function rankOf(items: ArrayLike<number>, target: number): number {
  for (let j = 0; j < items.length; j++) if (items[j] === target) return j + 1;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Bins

/** A difficulty bin: ground-truth beam ranks lo..hi (1-based, inclusive); lo = hi = 0 is "absent". */
export interface DifficultyBin {
  label: string;
  lo: number;
  hi: number;
}

/** "1,5,10" → [1, 5, 10]: strictly increasing positive integers, else a UserError. */
export function parseDifficultyEdges(spec: string): number[] {
  const parts = spec.split(',').map((s) => s.trim());
  const edges = parts.map(Number);
  if (parts.length === 0 || parts.some((p) => p === '') || edges.some((e) => !Number.isInteger(e) || e < 1)) {
    throw new UserError(`--difficulty-bins must be positive integers separated by commas (e.g. 1,5,10); got "${spec}"`);
  }
  for (let i = 1; i < edges.length; i++) {
    if (edges[i] <= edges[i - 1]) throw new UserError(`--difficulty-bins must increase strictly; got "${spec}"`);
  }
  return edges;
}

/**
 * Edges e_1 < ... < e_k over a beam of width W → {1..e_1}, {e_1+1..e_2}, ..., {e_k+1..W}, {absent}.
 * Edges at or beyond W close the last range at W (no empty ranges).
 */
export function difficultyBins(edges: readonly number[], W: number): DifficultyBin[] {
  const bins: DifficultyBin[] = [];
  let lo = 1;
  for (const e of [...edges, W]) {
    const hi = Math.min(e, W);
    if (hi < lo) continue;
    bins.push({ label: lo === hi ? `${lo}` : `${lo}-${hi}`, lo, hi });
    lo = hi + 1;
  }
  bins.push({ label: 'absent', lo: 0, hi: 0 });
  return bins;
}

/** Index of the bin holding a 1-based rank (0 = absent). */
export function difficultyBinOf(rank: number, bins: readonly DifficultyBin[]): number {
  for (let b = 0; b < bins.length; b++) if (rank >= bins[b].lo && rank <= bins[b].hi) return b;
  throw new Error(`rank ${rank} is in no difficulty bin`);
}

/** A bin of a real-valued statistic (d, or log pi(y|x)): lo ≤ value < hi. */
export interface DiscBin {
  label: string;
  lo: number;
  hi: number;
}

export type DiscMode = { mode: 'rho'; rho: number } | { mode: 'quartiles' };

/** Quantile p of ascending values, linear between order statistics (R's type 7); NaN when empty. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * p;
  const i = Math.floor(h);
  return i + 1 < sorted.length ? sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

const num = (v: number) => Number(v.toFixed(3)).toString();

/**
 * Split at ρ: [d < ρ, d ≥ ρ] (the gate's disc flag). Quartiles: the quartiles q1 ≤ q2 ≤ q3 of the
 * finite d values, bins [−∞, q1), [q1, q2), [q2, q3), [q3, ∞); tied d values can leave a bin empty.
 */
export function discBins(mode: DiscMode, ds: ArrayLike<number>): DiscBin[] {
  if (mode.mode === 'rho') {
    return [
      { label: `d<${num(mode.rho)}`, lo: -Infinity, hi: mode.rho },
      { label: `d>=${num(mode.rho)}`, lo: mode.rho, hi: Infinity },
    ];
  }
  return quartileBins(ds, 'd');
}

/**
 * Quartile bins of the finite values: [−∞, q1), [q1, q2), [q2, q3), [q3, ∞), labelled with the
 * statistic's name; tied values can leave a bin empty.
 */
export function quartileBins(values: ArrayLike<number>, name: string): DiscBin[] {
  const sorted = Array.from(values).filter((d) => Number.isFinite(d)).sort((a, b) => a - b);
  const [q1, q2, q3] = [0.25, 0.5, 0.75].map((p) => quantile(sorted, p));
  return [
    { label: `Q1 ${name}<${num(q1)}`, lo: -Infinity, hi: q1 },
    { label: `Q2 [${num(q1)},${num(q2)})`, lo: q1, hi: q2 },
    { label: `Q3 [${num(q2)},${num(q3)})`, lo: q2, hi: q3 },
    { label: `Q4 ${name}>=${num(q3)}`, lo: q3, hi: Infinity },
  ];
}

/** Index of the bin holding d; NaN (no negatives) → the lowest bin, as the gate rejects it. */
export function discBinOf(d: number, bins: readonly DiscBin[]): number {
  if (Number.isNaN(d)) return 0;
  for (let b = bins.length - 1; b >= 0; b--) if (d >= bins[b].lo) return b;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Tables

/** The statistics of one group of samples (a row of Table 2 or 3). HR at `hrK` (10). */
export interface CellStats {
  n: number;
  /** n / all samples. */
  share: number;
  hrLlm: number;
  hrRm: number;
  /** hrRm − hrLlm: what re-ranking by the ranker does to this group. */
  delta: number;
  /** Mean finite d_i. */
  meanD: number;
  /** Mean finite reliability (synthetic world); NaN elsewhere. */
  reliability: number;
  /** --compare: the other run's HR (LLM order) on the same samples, and this run's minus it. */
  hrOther?: number;
  deltaCompare?: number;
}

export interface Table1Row {
  metric: string;
  llm: number;
  rm: number;
  delta: number;
  other?: number;
  /** llm − other. */
  deltaCompare?: number;
}

/**
 * How samples are binned by difficulty: by the ground truth's rank in the beam (edges), or by the
 * quartiles of log pi(y|x) (Q1 = the least likely truths, the hardest).
 */
export type DifficultyMode = 'rank' | 'prob-quartiles';

export interface StratifyTables {
  n: number;
  hrK: number;
  difficultyMode: DifficultyMode;
  /** Rank ranges (rank mode) or log pi(y|x) ranges (prob-quartiles). */
  difficultyBins: (DifficultyBin | DiscBin)[];
  discBins: DiscBin[];
  /** Samples with no negatives (d_i NaN), counted in the lowest discriminability bin. */
  noNegatives: number;
  hasReliability: boolean;
  hasCompare: boolean;
  table1: Table1Row[];
  table2: (CellStats & { difficulty: string })[];
  /**
   * Per difficulty bin, then over all samples ('all'); `gatePrecision` (synthetic world): this
   * cell's RM reliability minus that of the same difficulty's other discriminability cells, so on
   * the d≥ρ row it is the gate's precision, admitted minus rejected (docs/METHOD.md 2.5).
   */
  table3: (CellStats & { difficulty: string; discriminability: string; gatePrecision: number })[];
}

export interface StratifyOptions {
  /** Beam width W (the last difficulty range ends at W). */
  beam: number;
  /** Difficulty by beam rank (default) or by quartiles of log pi(y|x). */
  difficulty?: DifficultyMode;
  /** Beam-rank difficulty edges, default [1, 5, 10]. */
  difficultyEdges?: readonly number[];
  disc: DiscMode;
  /** HR cut-offs of Table 1 (default 1, 5, 10) and the NDCG cut-off (default 10). */
  ks?: readonly number[];
  ndcgK?: number;
  /** HR cut-off of Tables 2 and 3 (default 10). */
  hrK?: number;
}

/** Every table from the per-sample records. With `other` on every sample, the compare columns too. */
export function stratify(samples: readonly StratSample[], opts: StratifyOptions): StratifyTables {
  const N = samples.length;
  const hrK = opts.hrK ?? 10;
  const ks = opts.ks ?? [1, 5, 10];
  const ndcgK = opts.ndcgK ?? 10;
  const hasCompare = N > 0 && samples.every((s) => s.other !== undefined);
  const hasReliability = samples.some((s) => Number.isFinite(s.reliability));
  const difficultyMode = opts.difficulty ?? 'rank';
  const qBins = discBins(opts.disc, samples.map((s) => s.disc));
  let dBins: (DifficultyBin | DiscBin)[];
  let dOf: number[];
  if (difficultyMode === 'rank') {
    const bins = difficultyBins(opts.difficultyEdges ?? [1, 5, 10], opts.beam);
    dBins = bins;
    dOf = samples.map((s) => difficultyBinOf(rankOf(s.llm, s.target), bins));
  } else {
    if (samples.some((s) => !Number.isFinite(s.gtLogProb))) throw new Error('prob-quartiles difficulty needs a finite gtLogProb on every sample');
    const bins = quartileBins(samples.map((s) => s.gtLogProb), 'log p');
    dBins = bins;
    dOf = samples.map((s) => discBinOf(s.gtLogProb, bins));
  }
  const qOf = samples.map((s) => discBinOf(s.disc, qBins));
  const hitLlm = samples.map((s) => hitAt(s.llm, s.target, hrK));
  const hitRm = samples.map((s) => hitAt(s.rm, s.target, hrK));
  const hitOther = samples.map((s) => (s.other ? hitAt(s.other, s.target, hrK) : Number.NaN));

  const cell = (members: number[]): CellStats => {
    const pick = (xs: readonly number[]) => members.map((i) => xs[i]);
    const hrLlm = mean(pick(hitLlm));
    const hrRm = mean(pick(hitRm));
    const out: CellStats = {
      n: members.length,
      share: N > 0 ? members.length / N : Number.NaN,
      hrLlm,
      hrRm,
      delta: hrRm - hrLlm,
      meanD: mean(members.map((i) => samples[i].disc)),
      reliability: mean(members.map((i) => samples[i].reliability)),
    };
    if (hasCompare) {
      out.hrOther = mean(pick(hitOther));
      out.deltaCompare = hrLlm - out.hrOther;
    }
    return out;
  };

  const all = samples.map((_, i) => i);
  const table1: Table1Row[] = [];
  const metricRow = (metric: string, f: (items: ArrayLike<number>, target: number) => number) => {
    const llm = mean(samples.map((s) => f(s.llm, s.target)));
    const rm = mean(samples.map((s) => f(s.rm, s.target)));
    const row: Table1Row = { metric, llm, rm, delta: rm - llm };
    if (hasCompare) {
      row.other = mean(samples.map((s) => f(s.other!, s.target)));
      row.deltaCompare = llm - row.other;
    }
    table1.push(row);
  };
  for (const k of ks) metricRow(`hr@${k}`, (items, t) => hitAt(items, t, k));
  metricRow(`ndcg@${ndcgK}`, (items, t) => ndcgAt(items, t, ndcgK));

  const table2 = dBins.map((b, bi) => ({ difficulty: b.label, ...cell(all.filter((i) => dOf[i] === bi)) }));
  table2.push({ difficulty: 'all', ...cell(all) });
  const rowsOf = (label: string, inBin: (i: number) => boolean) =>
    qBins.map((q, qi) => {
      const rest = mean(all.filter((i) => inBin(i) && qOf[i] !== qi).map((i) => samples[i].reliability));
      const c = cell(all.filter((i) => inBin(i) && qOf[i] === qi));
      return { difficulty: label, discriminability: q.label, ...c, gatePrecision: c.reliability - rest };
    });
  const table3 = [...dBins.flatMap((b, bi) => rowsOf(b.label, (i) => dOf[i] === bi)), ...rowsOf('all', () => true)];
  return {
    n: N,
    hrK,
    difficultyMode,
    difficultyBins: dBins,
    discBins: qBins,
    noNegatives: samples.filter((s) => Number.isNaN(s.disc)).length,
    hasReliability,
    hasCompare,
    table1,
    table2,
    table3,
  };
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** What the header of the report says about where the numbers come from. */
export interface StratifyMeta {
  run: string;
  stage: string;
  checkpoint: string;
  step?: number;
  split: string;
  beam: number;
  /** M in-batch negatives per sample and the batch they are drawn from. */
  inBatchNegatives: number;
  negativeBatch: number;
  /** The gate's discriminability estimator d_i comes from (docs/METHOD.md 2.5); margin when absent. */
  estimator?: string;
  disc: DiscMode;
  compare?: { run: string; stage: string; checkpoint: string; step?: number };
}

const dec = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(4));
const signed = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : (v >= 0 ? '+' : '') + v.toFixed(4));
const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '-');

/** A GitHub markdown table with the columns padded to equal width; `right` marks numeric columns. */

/** Columns shared by Tables 2 and 3 after their label columns. */
function cellColumns(t: StratifyTables): { header: string[]; values: (c: CellStats) => string[] } {
  const k = t.hrK;
  const header = ['n', 'share', `HR@${k} LLM`, `HR@${k} RM`, 'RM-LLM', 'mean d'];
  if (t.hasReliability) header.push('RM reliability');
  if (t.hasCompare) header.push(`HR@${k} other`, 'this-other');
  return {
    header,
    values: (c) => {
      const v = [String(c.n), pct(c.share), dec(c.hrLlm), dec(c.hrRm), signed(c.delta), dec(c.meanD)];
      if (t.hasReliability) v.push(dec(c.reliability));
      if (t.hasCompare) v.push(dec(c.hrOther), signed(c.deltaCompare));
      return v;
    },
  };
}

/** What d is, per estimator (docs/METHOD.md 2.5), for the header. */
const D_MEANING: Record<string, string> = {
  margin: 'that the ranker scores below the truth, ties 1/2',
  ensemble: 'whose ensemble margin over the truth has a lower confidence bound above 0',
  exposure: 'that the ranker scores below the truth, each weighted by its held-out accuracy on the two items\' exposure buckets',
};

function dDefinition(m: StratifyMeta): string {
  const negatives = `(distinct valid beam items other than the truth + ${m.inBatchNegatives} in-batch ground truths, batches of ${m.negativeBatch})`;
  const est = m.estimator ?? 'margin';
  if (est === 'calibrated')
    return `d (calibrated estimator) = predicted share of pairs of the truth and its negatives ${negatives} that the ranker orders right, from its held-out accuracy by score gap and exposure buckets`;
  return `d (${est} estimator) = share of negatives ${negatives} ${D_MEANING[est] ?? D_MEANING.margin}`;
}

function discDescription(m: StratifyMeta): string {
  return m.disc.mode === 'rho' ? `split at rho = ${m.disc.rho}` : 'quartiles of d over these samples';
}

/** The three tables as markdown, with a header naming the run, checkpoint and settings. */
export function formatMarkdown(t: StratifyTables, m: StratifyMeta): string {
  const out: string[] = [];
  const step = (s?: number) => (s === undefined ? '' : ` (step ${s})`);
  out.push(`# Stratified analysis: ${m.run}, ${m.stage}/${m.checkpoint}${step(m.step)}, ${m.split}`);
  out.push('');
  out.push(
    `${t.n} samples, beam ${m.beam}. LLM order = beam order; RM order = valid beam items re-ranked by the ranker, invalid last. ` +
      `${dDefinition(m)}; ${discDescription(m)}.` +
      (t.noNegatives > 0 ? ` ${t.noNegatives} samples had no negatives (d undefined, counted as lowest d).` : '') +
      (t.hasReliability ? ' RM reliability = pairwise agreement of ranker and true utility over the truth and its negatives (synthetic world; 0.5 = chance).' : ''),
  );
  if (m.compare) {
    out.push('');
    out.push(
      `Compare: other = ${m.compare.run}, ${m.compare.stage}/${m.compare.checkpoint}${step(m.compare.step)}, same samples, LLM order; ` +
        `cells are defined by THIS run's difficulty and d.`,
    );
  }

  out.push('', '## Table 1: LLM order vs RM order', '');
  const h1 = ['metric', 'LLM', 'RM', 'RM-LLM'];
  if (t.hasCompare) h1.push('other (LLM)', 'this-other');
  out.push(
    markdownTable(
      h1,
      t.table1.map((r) => {
        const v = [r.metric, dec(r.llm), dec(r.rm), signed(r.delta)];
        if (t.hasCompare) v.push(dec(r.other), signed(r.deltaCompare));
        return v;
      }),
      { right: h1.map((_, c) => c > 0) },
    ),
  );

  const cc = cellColumns(t);
  const by = t.difficultyMode === 'rank' ? 'rank of the ground truth in the beam' : 'quartiles of log pi(y|x), the policy\'s log-probability of the ground truth; Q1 = least likely';
  out.push('', `## Table 2: by difficulty (${by})`, '');
  const h2 = ['difficulty', ...cc.header];
  out.push(markdownTable(h2, t.table2.map((r) => [r.difficulty, ...cc.values(r)]), { right: h2.map((_, c) => c > 0) }));

  out.push('', `## Table 3: difficulty x discriminability`, '');
  const h3 = ['difficulty', 'discriminability', ...cc.header, ...(t.hasReliability ? ['gate precision'] : [])];
  out.push(
    markdownTable(h3, t.table3.map((r) => [r.difficulty, r.discriminability, ...cc.values(r), ...(t.hasReliability ? [signed(r.gatePrecision)] : [])]), {
      right: h3.map((_, c) => c > 1),
    }),
  );
  if (t.hasReliability) {
    out.push(
      '',
      'gate precision = RM reliability of this cell minus that of the same difficulty\'s other discriminability cells: ' +
        'on a d>=rho row, admitted minus rejected (the gate\'s precision; > 0 when the gate admits samples on which the ranker is truly more reliable).',
    );
  }
  return out.join('\n') + '\n';
}

/** Six decimals: enough for shares and HR over a million samples, without float noise. */
const csvNum = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : String(Number(v.toFixed(6))));

/**
 * The tables in long ("tidy") form: table,difficulty,discriminability,statistic,value; one row per
 * number, "all" where a table does not split by that axis, empty value for an undefined mean.
 */
export function formatCsv(t: StratifyTables): string {
  const rows: string[][] = [];
  for (const r of t.table1) {
    const stats: [string, number | undefined][] = [[`${r.metric}_llm`, r.llm], [`${r.metric}_rm`, r.rm], [`${r.metric}_rm_minus_llm`, r.delta]];
    if (t.hasCompare) stats.push([`${r.metric}_other`, r.other], [`${r.metric}_this_minus_other`, r.deltaCompare]);
    for (const [s, v] of stats) rows.push(['1', 'all', 'all', s, csvNum(v)]);
  }
  const k = t.hrK;
  const cellRows = (table: string, diff: string, disc: string, c: CellStats) => {
    const stats: [string, number | undefined][] = [
      ['n', c.n],
      ['share', c.share],
      [`hr@${k}_llm`, c.hrLlm],
      [`hr@${k}_rm`, c.hrRm],
      [`hr@${k}_rm_minus_llm`, c.delta],
      ['mean_d', c.meanD],
    ];
    if (t.hasReliability) stats.push(['rm_reliability', c.reliability]);
    if (t.hasCompare) stats.push([`hr@${k}_other`, c.hrOther], [`hr@${k}_this_minus_other`, c.deltaCompare]);
    for (const [s, v] of stats) rows.push([table, diff, disc, s, csvNum(v)]);
  };
  for (const r of t.table2) cellRows('2', r.difficulty, 'all', r);
  for (const r of t.table3) {
    cellRows('3', r.difficulty, r.discriminability, r);
    if (t.hasReliability) rows.push(['3', r.difficulty, r.discriminability, 'gate_precision', csvNum(r.gatePrecision)]);
  }
  return toCsv(['table', 'difficulty', 'discriminability', 'statistic', 'value'], rows);
}
