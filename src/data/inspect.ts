/**
 * `data inspect`: counts, split sizes, sequence lengths and item-popularity skew of a prepared
 * dataset (popularity from training prefixes only), plus the synthetic world's exposure and
 * click statistics. The CLI appends the semantic-ID statistics.
 */
import type { PreparedData, FilterReport } from './prepare.js';
import { trainItemCounts } from './splits.js';

export interface DataStats {
  name: string;
  source: string;
  hash: string;
  dir: string;
  users: number;
  items: number;
  interactions: number;
  /** train = interactions in training prefixes; valid/test = examples (one per user). */
  splits: { train: number; valid: number; test: number };
  /** Full sequence lengths (train + valid + test). median: mean of the two middle values when even; p90: nearest rank. */
  seqLen: { min: number; median: number; mean: number; p90: number; max: number };
  /** Item popularity from training prefixes only. */
  popularity: {
    /** Share of train interactions on the 20% most frequent items (ceil(0.2·I) items). */
    top20Share: number;
    /** Items with fewer than 5 train interactions (0 included) and their share of the catalog. */
    under5: number;
    under5Share: number;
    /** Items never seen in training (only in valid/test targets). */
    unseenInTrain: number;
    /** Gini coefficient of train counts over all items (0 = uniform, → 1 = all on one item). */
    gini: number;
  };
  filter: FilterReport | null;
  synthetic: {
    freshItems: number;
    /** Share of the catalog that is fresh. */
    freshShare: number;
    /** Share of train interactions, valid targets and test targets that are fresh items. */
    freshInTrain: number;
    freshInValid: number;
    freshInTest: number;
    impressions: number;
    impressionSize: number;
    /** Clicks / shown items, including the consumed item (always clicked). */
    clickRate: number;
    /** The same over shown items other than the consumed one. */
    clickRateOthers: number;
    /** Share of shown items that are fresh. */
    freshShownShare: number;
  } | null;
}

/** Order statistics of a list of numbers (sorted copy). */
export function lengthStats(xs: ArrayLike<number>): DataStats['seqLen'] {
  const s = Float64Array.from(xs).sort();
  const n = s.length;
  if (n === 0) return { min: 0, median: 0, mean: 0, p90: 0, max: 0 };
  let sum = 0;
  for (let k = 0; k < n; k++) sum += s[k];
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return { min: s[0], median, mean: sum / n, p90: s[Math.max(0, Math.ceil(0.9 * n) - 1)], max: s[n - 1] };
}

/** Gini coefficient of non-negative values: (2 Σ_i i·x_(i)) / (n Σ x) − (n + 1) / n, x sorted ascending, i from 1. */
export function gini(values: ArrayLike<number>): number {
  const s = Float64Array.from(values).sort();
  const n = s.length;
  let sum = 0;
  let weighted = 0;
  for (let k = 0; k < n; k++) {
    sum += s[k];
    weighted += (k + 1) * s[k];
  }
  return n === 0 || sum === 0 ? 0 : (2 * weighted) / (n * sum) - (n + 1) / n;
}

export function inspectData(p: PreparedData): DataStats {
  const { dataset: ds, splits, manifest } = p;
  const I = ds.itemIds.length;
  const counts = trainItemCounts(splits, I);
  const sorted = Int32Array.from(counts).sort().reverse();
  let trainTotal = 0;
  for (let i = 0; i < I; i++) trainTotal += counts[i];
  let top = 0;
  for (let k = 0; k < Math.ceil(0.2 * I); k++) top += sorted[k];
  let under5 = 0;
  let unseen = 0;
  for (let i = 0; i < I; i++) {
    if (counts[i] < 5) under5++;
    if (counts[i] === 0) unseen++;
  }

  let synthetic: DataStats['synthetic'] = null;
  const t = ds.truth;
  if (t) {
    let freshItems = 0;
    for (let i = 0; i < I; i++) freshItems += t.itemFresh[i];
    let freshTrain = 0;
    for (const seq of splits.train) for (let j = 0; j < seq.length; j++) freshTrain += t.itemFresh[seq[j]];
    let freshValid = 0;
    for (const e of splits.valid) freshValid += t.itemFresh[e.target];
    let freshTest = 0;
    for (const e of splits.test) freshTest += t.itemFresh[e.target];
    let shown = 0;
    let clicks = 0;
    let freshShown = 0;
    for (const imp of t.impressions) {
      shown += imp.items.length;
      for (let k = 0; k < imp.items.length; k++) {
        clicks += imp.clicks[k];
        freshShown += t.itemFresh[imp.items[k]];
      }
    }
    const nImp = t.impressions.length;
    synthetic = {
      freshItems,
      freshShare: freshItems / I,
      freshInTrain: ratio(freshTrain, trainTotal),
      freshInValid: ratio(freshValid, splits.valid.length),
      freshInTest: ratio(freshTest, splits.test.length),
      impressions: nImp,
      impressionSize: nImp > 0 ? t.impressions[0].items.length : 0,
      clickRate: ratio(clicks, shown),
      clickRateOthers: ratio(clicks - nImp, shown - nImp),
      freshShownShare: ratio(freshShown, shown),
    };
  }

  return {
    name: manifest.name,
    source: manifest.source,
    hash: manifest.hash,
    dir: p.dir,
    users: ds.userIds.length,
    items: I,
    interactions: manifest.counts.interactions,
    splits: manifest.splits,
    seqLen: lengthStats(ds.sequences.map((s) => s.length)),
    popularity: {
      top20Share: ratio(top, trainTotal),
      under5,
      under5Share: ratio(under5, I),
      unseenInTrain: unseen,
      gini: gini(counts),
    },
    filter: manifest.filter ?? null,
    synthetic,
  };
}

function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

const int = (x: number) => x.toLocaleString('en-US');
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number, d = 2) => (Number.isInteger(x) ? String(x) : x.toFixed(d));

/** An aligned two-column plain-text table with section headings. */
export function formatDataStats(s: DataStats): string {
  const rows: ([string, string] | string)[] = [
    `Dataset ${s.name} (${s.source}, hash ${s.hash})`,
    ['folder', s.dir],
    ['users', int(s.users)],
    ['items', int(s.items)],
    ['interactions', int(s.interactions)],
    ['density', `${(100 * s.interactions / Math.max(1, s.users * s.items)).toPrecision(2)}%`],
  ];
  if (s.filter) {
    const f = s.filter;
    rows.push(
      ['before filter', `${int(f.before.users)} users, ${int(f.before.items)} items, ${int(f.before.interactions)} interactions`],
      ...(f.duplicates !== undefined ? [['exact duplicates', `${int(f.duplicates)} rows dropped (same user, item, timestamp)`] as [string, string]] : []),
      ['k-core', `items >= ${f.kcore}, users >= ${f.minUserInteractions} (${f.passes} pass${f.passes > 1 ? 'es' : ''})`],
    );
  }
  rows.push(
    'Splits (leave-one-out)',
    ['train interactions', int(s.splits.train)],
    ['valid examples', int(s.splits.valid)],
    ['test examples', int(s.splits.test)],
    'Sequence length',
    ['min / median / mean', `${s.seqLen.min} / ${num(s.seqLen.median, 1)} / ${num(s.seqLen.mean)}`],
    ['p90 / max', `${s.seqLen.p90} / ${s.seqLen.max}`],
    'Item popularity (train prefixes)',
    ['top 20% items share', pct(s.popularity.top20Share)],
    ['items < 5 train', `${int(s.popularity.under5)} (${pct(s.popularity.under5Share)})`],
    ['items unseen in train', int(s.popularity.unseenInTrain)],
    ['Gini', num(s.popularity.gini, 3)],
  );
  if (s.synthetic) {
    const y = s.synthetic;
    rows.push(
      'Synthetic world',
      ['fresh items', `${int(y.freshItems)} (${pct(y.freshShare)} of catalog)`],
      ['fresh share train/valid/test', `${pct(y.freshInTrain)} / ${pct(y.freshInValid)} / ${pct(y.freshInTest)}`],
      ['impressions', `${int(y.impressions)} x ${y.impressionSize} items`],
      ['click rate', `${pct(y.clickRate)} (${pct(y.clickRateOthers)} excluding the consumed item)`],
      ['shown items that are fresh', pct(y.freshShownShare)],
    );
  }
  const width = Math.max(...rows.map((r) => (typeof r === 'string' ? 0 : r[0].length)));
  return rows.map((r) => (typeof r === 'string' ? r : `  ${r[0].padEnd(width)}  ${r[1]}`)).join('\n');
}
