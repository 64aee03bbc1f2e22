/**
 * Report plots as SVG, rendered in Node by vega (renderer 'none': no browser, no canvas) from
 * vega-lite specs. Two figures:
 *   - training curves: validation HR@10, admission rate, mean reward and KL against the RL step,
 *     one line per configuration (mean over seeds) with a min-max band over seeds; for SFT-only
 *     runs, validation HR@10 and the training loss against the SFT step, with SASRec baselines'
 *     validation curves beside them;
 *   - the retrieval-validity frontier: test HR@10 against hallucination@10, one point per
 *     configuration and checkpoint with 95% CI error bars on both axes.
 * The data builders are pure; only renderSvg touches vega.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { readMetrics, type MetricsRow } from '../runs/metrics.js';
import type { ConfigGroup, RunRecord, SummaryRow } from './report.js';

/** A panel of the training-curve figure: metrics.jsonl field → axis title; valid rows or per-step (train) rows. */
export interface Curve {
  field: string;
  title: string;
  kind: 'valid' | 'step';
}

/** The stage a figure plots: the RL stage of RL runs, or the SFT stage of SFT-only runs. */
export type CurveStage = 'rl' | 'sft';

export const CURVES: Record<CurveStage, Curve[]> = {
  rl: [
    { field: 'hr@10', title: 'validation HR@10', kind: 'valid' },
    { field: 'admission', title: 'admission rate', kind: 'step' },
    { field: 'rewardMean', title: 'mean reward', kind: 'step' },
    { field: 'kl', title: 'KL(pi || pi_ref)', kind: 'step' },
  ],
  sft: [
    { field: 'hr@10', title: 'validation HR@10', kind: 'valid' },
    { field: 'loss', title: 'training loss (NLL per SID token)', kind: 'step' },
  ],
};

export interface CurvePoint {
  configuration: string;
  panel: string;
  step: number;
  mean: number;
  min: number;
  max: number;
  /** Seeds that logged this step. */
  n: number;
}

/** Most points a per-step curve keeps per configuration: longer runs are averaged over windows of steps. */
export const MAX_CURVE_POINTS = 60;

/**
 * Per configuration, panel and step: mean, min and max over the seeds. Rows come from each run's
 * `stage` in metrics.jsonl (validation rows have kind 'valid', step rows 'train'); a step logged
 * twice (re-run after a resume) counts once, its last row. Validation points are kept as logged;
 * per-step curves of runs longer than `maxPoints` steps are first averaged, per seed, over
 * windows of w = ⌈(last step + 1) / maxPoints⌉ steps (window k = steps kw .. kw + w − 1, plotted
 * at its last step), so a 300-step sweep draws 60 points per curve instead of 300: the figure stays
 * readable and its SVG small. SASRec baseline groups (stage 'sasrec') add their validation curve
 * only: their training loss is a softmax over the catalog, not comparable with the policy's.
 */
export function curveData(
  groups: readonly ConfigGroup[],
  o: { stage?: CurveStage; read?: (run: RunRecord) => readonly MetricsRow[]; maxPoints?: number } = {},
): CurvePoint[] {
  const { stage = 'rl', maxPoints = MAX_CURVE_POINTS } = o;
  const read = o.read ?? ((r: RunRecord) => readMetrics(r.dir, { stage: r.stage === 'sasrec' ? 'sasrec' : stage }));
  const out: CurvePoint[] = [];
  for (const g of groups) {
    const perRun = g.runs.map(read);
    const sasrec = g.runs.some((r) => r.stage === 'sasrec');
    for (const c of CURVES[stage]) {
      if (sasrec && c.kind !== 'valid') continue;
      const raw = perRun.map((rows) => {
        const m = new Map<number, number>();
        for (const row of rows) {
          if (row.kind !== (c.kind === 'valid' ? 'valid' : 'train')) continue;
          const v = row[c.field];
          if (typeof v === 'number' && Number.isFinite(v)) m.set(row.step, v);
        }
        return m;
      });
      const lastStep = Math.max(0, ...raw.flatMap((m) => [...m.keys()]));
      const w = c.kind === 'valid' ? 1 : Math.max(1, Math.ceil((lastStep + 1) / maxPoints));
      const bySeed = w === 1 ? raw : raw.map((m) => windowMeans(m, w, lastStep));
      const steps = [...new Set(bySeed.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
      for (const step of steps) {
        const vs = bySeed.map((m) => m.get(step)).filter((v): v is number => v !== undefined);
        out.push({
          configuration: g.label,
          panel: c.title,
          step,
          mean: vs.reduce((s, v) => s + v, 0) / vs.length,
          min: Math.min(...vs),
          max: Math.max(...vs),
          n: vs.length,
        });
      }
    }
  }
  return out;
}

/** step → value averaged over windows of `w` steps, keyed by the window's last step (at most `lastStep`). */
function windowMeans(m: ReadonlyMap<number, number>, w: number, lastStep: number): Map<number, number> {
  const sums = new Map<number, { sum: number; n: number }>();
  for (const [step, v] of m) {
    const key = Math.min((Math.floor(step / w) + 1) * w - 1, lastStep);
    const acc = sums.get(key) ?? { sum: 0, n: 0 };
    acc.sum += v;
    acc.n += 1;
    sums.set(key, acc);
  }
  return new Map([...sums].map(([k, a]) => [k, a.sum / a.n]));
}

export function trainingCurvesSpec(points: readonly CurvePoint[], title: string, stage: CurveStage = 'rl'): TopLevelSpec {
  const color = { field: 'configuration', type: 'nominal', legend: { orient: 'bottom', direction: 'vertical', labelLimit: 800, symbolOpacity: 1 } } as const;
  const name = stage === 'rl' ? 'RL' : 'SFT';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: `${name} stage: mean over seeds, band = min-max over seeds; per-step curves of long runs averaged over windows of steps (at most ${MAX_CURVE_POINTS} points)` },
    data: { values: points as unknown as Record<string, unknown>[] },
    facet: { field: 'panel', type: 'nominal', title: null, sort: CURVES[stage].map((c) => c.title), header: { labelFontSize: 12 } },
    columns: 2,
    spec: {
      width: 300,
      height: 180,
      layer: [
        {
          mark: { type: 'area', opacity: 0.2 },
          encoding: { x: { field: 'step', type: 'quantitative', title: `${name} step`, axis: { tickMinStep: 1 } }, y: { field: 'min', type: 'quantitative', title: null, scale: { zero: false } }, y2: { field: 'max' }, color },
        },
        {
          mark: { type: 'line', point: { size: 12 } },
          encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'mean', type: 'quantitative' }, color },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

export interface FrontierPoint {
  configuration: string;
  checkpoint: string;
  hr: number;
  hrLow: number | null;
  hrHigh: number | null;
  hallucination: number;
  halLow: number | null;
  halHigh: number | null;
  n: number;
}

/** One point per configuration × checkpoint from the summary's hr@10 and hallucination@10 rows. */
export function frontierData(summary: readonly SummaryRow[], hrMetric = 'hr@10', halMetric = 'hallucination@10'): FrontierPoint[] {
  const out: FrontierPoint[] = [];
  const ends = (lo: number, hi: number) => (Number.isFinite(lo) && Number.isFinite(hi) ? [lo, hi] : [null, null]);
  for (const hr of summary.filter((s) => s.metric === hrMetric && s.ci.n > 0)) {
    const hal = summary.find((s) => s.metric === halMetric && s.group === hr.group && s.checkpoint === hr.checkpoint);
    if (!hal || hal.ci.n === 0) continue;
    const [hrLow, hrHigh] = ends(hr.ci.low, hr.ci.high);
    const [halLow, halHigh] = ends(hal.ci.low, hal.ci.high);
    out.push({ configuration: hr.group.label, checkpoint: hr.checkpoint, hr: hr.ci.mean, hrLow, hrHigh, hallucination: hal.ci.mean, halLow, halHigh, n: Math.min(hr.ci.n, hal.ci.n) });
  }
  return out;
}

export function frontierSpec(points: readonly FrontierPoint[], title: string): TopLevelSpec {
  const color = { field: 'configuration', type: 'nominal', legend: { orient: 'bottom', direction: 'vertical', labelLimit: 800 } } as const;
  const x = { field: 'hallucination', type: 'quantitative', title: 'test hallucination@10 (lower is better)', scale: { zero: false } } as const;
  const y = { field: 'hr', type: 'quantitative', title: 'test HR@10', scale: { zero: false } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, subtitle: 'retrieval-validity frontier: mean over seeds, bars = 95% CI (t)' },
    data: { values: points as unknown as Record<string, unknown>[] },
    facet: { field: 'checkpoint', type: 'nominal', title: null, sort: ['best', 'final'], header: { labelExpr: "datum.value + ' checkpoint'" } },
    spec: {
      width: 320,
      height: 260,
      layer: [
        { transform: [{ filter: 'datum.halLow != null' }], mark: { type: 'rule' }, encoding: { x: { field: 'halLow', type: 'quantitative' }, x2: { field: 'halHigh' }, y, color } },
        { transform: [{ filter: 'datum.hrLow != null' }], mark: { type: 'rule' }, encoding: { x, y: { field: 'hrLow', type: 'quantitative' }, y2: { field: 'hrHigh' }, color } },
        { mark: { type: 'point', filled: true, size: 60 }, encoding: { x, y, color, tooltip: [{ field: 'configuration' }, { field: 'n' }] } },
      ],
    },
  } as TopLevelSpec;
}

/** vega-lite spec → standalone SVG text. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
