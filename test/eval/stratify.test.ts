/** Stratified tables (docs/METHOD.md 2.7) on hand-built beams, ranker scores and truths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { difficultyBins, discBinOf, discBins, formatCsv, formatMarkdown, parseDifficultyEdges, quantile, rankOf, rmOrder, stratify, type StratSample } from '../../src/eval/stratify.js';
import { UserError } from '../../src/errors.js';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-9, `${msg ?? ''} ${a} != ${b}`);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('rmOrder: valid items by ranker score, ties in beam order, invalid and empty last in beam order', () => {
  // Scores 7:2, 5:1 (beam 0), 8:1 (beam 3): 7 first, then the tie 5 before 8.
  assert.deepEqual(Array.from(rmOrder([5, -1, 7, 8, -2], [1, NaN, 2, 1, NaN])), [7, 5, 8, -1, -2]);
  assert.equal(rankOf([5, -1, 7], 7), 3);
  assert.equal(rankOf([5, -1, 7], 9), 0);
});

test('difficulty bins: {1}, {2-5}, {6-10}, {11-W}, {absent}; edges past W close at W; bad specs are user errors', () => {
  const labels = (W: number, e = [1, 5, 10]) => difficultyBins(e, W).map((b) => b.label);
  assert.deepEqual(labels(20), ['1', '2-5', '6-10', '11-20', 'absent']);
  assert.deepEqual(labels(10), ['1', '2-5', '6-10', 'absent']);
  assert.deepEqual(labels(8), ['1', '2-5', '6-8', 'absent']);
  assert.deepEqual(labels(20, [3]), ['1-3', '4-20', 'absent']);
  assert.deepEqual(parseDifficultyEdges(' 1, 5,10'), [1, 5, 10]);
  for (const bad of ['0,5', '5,1', '1,1', 'a', '', '1,,5', '2.5']) assert.throws(() => parseDifficultyEdges(bad), UserError, bad);
});

test('discriminability bins: split at rho (d = rho is discriminable, NaN is not) and quartiles of the finite d', () => {
  const rho = discBins({ mode: 'rho', rho: 0.8 }, []);
  assert.deepEqual(rho.map((b) => b.label), ['d<0.8', 'd>=0.8']);
  assert.deepEqual([0.79, 0.8, 1, 0, Number.NaN].map((d) => discBinOf(d, rho)), [0, 1, 1, 0, 0]);

  // Type-7 quantiles: of [0, 1] at 0.25 = 0.25; of [0, .25, .5, .75, 1] at .25/.5/.75 = .25/.5/.75 (h = 4p exact).
  close(quantile([0, 1], 0.25), 0.25);
  const q = discBins({ mode: 'quartiles' }, [1, 0.5, Number.NaN, 0, 0.75, 0.25]);
  assert.deepEqual(q.map((b) => b.lo), [-Infinity, 0.25, 0.5, 0.75]);
  assert.deepEqual(q.map((b) => b.label), ['Q1 d<0.25', 'Q2 [0.25,0.5)', 'Q3 [0.5,0.75)', 'Q4 d>=0.75']);
  assert.deepEqual([0, 0.25, 0.5, 0.74, 0.75, 1, Number.NaN].map((d) => discBinOf(d, q)), [0, 1, 2, 2, 3, 3, 0]);
});

/**
 * Four samples, beam W = 12, ranker score of beam item k = k (truths get their own score):
 *   A target 50, beam [50, 1..11]            rank 1  ; truth scored 0   → RM: 11..1, 50     → RM rank 12
 *   B target 51, beam [1,2,3,51,-1,4..10]    rank 4  ; truth scored 100 → RM: 51, 10..1, -1 → RM rank 1
 *   C target 52, beam [1..10, 52, 11]        rank 11 ; truth scored 5.5 → 6..11 above it     → RM rank 7
 *   D target 53, beam [1..12]                absent
 * d: A 0.9, B 0.5, C 0.8 (= rho, so discriminable), D NaN (no negatives: lowest bin). Reliability: A 0.75 only.
 * log pi(truth | x): A -0.5, B -2, C -4, D -9.
 * Other run's beams (compare): A rank 2, B absent, C rank 3, D rank 10.
 */
function handBuilt(withOther: boolean): StratSample[] {
  const mk = (target: number, llm: number[], gtScore: number, disc: number, reliability: number, otherRank: number, user: number, gtLogProb: number): StratSample => {
    const scores = llm.map((it) => (it === target ? gtScore : it < 0 ? NaN : it));
    const other = range(100, 111);
    if (otherRank > 0) other[otherRank - 1] = target;
    return { user, target, llm: Int32Array.from(llm), rm: rmOrder(llm, scores), disc, reliability, gtLogProb, ...(withOther ? { other } : {}) };
  };
  return [
    mk(50, [50, ...range(1, 11)], 0, 0.9, 0.75, 2, 0, -0.5),
    mk(51, [1, 2, 3, 51, -1, ...range(4, 10)], 100, 0.5, NaN, 0, 1, -2),
    mk(52, [...range(1, 10), 52, 11], 5.5, 0.8, NaN, 3, 2, -4),
    mk(53, range(1, 12), 0, NaN, NaN, 10, 3, -9),
  ];
}

test('hand-built beams: RM orders as worked out', () => {
  const s = handBuilt(false);
  assert.deepEqual(Array.from(s[0].rm), [...range(1, 11).reverse(), 50]);
  assert.deepEqual(Array.from(s[1].rm), [51, ...range(1, 10).reverse(), -1]);
  assert.equal(rankOf(s[2].rm, 52), 7);
  assert.deepEqual(s.map((x) => rankOf(x.llm, x.target)), [1, 4, 11, 0]);
});

test('Table 1: HR@1/5/10 and NDCG@10 in LLM order vs RM order', () => {
  const t = stratify(handBuilt(false), { beam: 12, disc: { mode: 'rho', rho: 0.8 } });
  const row = (m: string) => t.table1.find((r) => r.metric === m)!;
  // LLM hits: A@1, B@4, C@11.  RM hits: A@12, B@1, C@7.
  // HR@1  LLM {A} 1/4, RM {B} 1/4.   HR@5 LLM {A,B} 2/4, RM {B} 1/4.   HR@10 LLM {A,B} 2/4, RM {B,C} 2/4.
  close(row('hr@1').llm, 0.25); close(row('hr@1').rm, 0.25); close(row('hr@1').delta, 0);
  close(row('hr@5').llm, 0.5); close(row('hr@5').rm, 0.25); close(row('hr@5').delta, -0.25);
  close(row('hr@10').llm, 0.5); close(row('hr@10').rm, 0.5); close(row('hr@10').delta, 0);
  // NDCG@10 LLM (1/log2 2 + 1/log2 5)/4; RM (1/log2 2 + 1/log2 8)/4 = (1 + 1/3)/4.
  const llm = (1 + 1 / Math.log2(5)) / 4;
  close(row('ndcg@10').llm, llm); close(row('ndcg@10').rm, 1 / 3); close(row('ndcg@10').delta, 1 / 3 - llm);
  assert.equal(t.hasCompare, false);
  assert.equal(t.hasReliability, true);
  assert.equal(t.noNegatives, 1);
});

test('Table 2: share, HR@10 by LLM and RM order, difference and mean d per difficulty bin', () => {
  const t = stratify(handBuilt(false), { beam: 12, disc: { mode: 'rho', rho: 0.8 } });
  const got = t.table2.map((r) => [r.difficulty, r.n, r.share, r.hrLlm, r.hrRm, r.delta, r.meanD]);
  assert.deepEqual(got, [
    ['1', 1, 0.25, 1, 0, -1, 0.9], //    A: hit at 1 in the beam, re-ranked to 12
    ['2-5', 1, 0.25, 1, 1, 0, 0.5], //   B
    ['6-10', 0, 0, NaN, NaN, NaN, NaN], // nobody
    ['11-12', 1, 0.25, 0, 1, 1, 0.8], // C: the ranker lifts it from 11 to 7
    ['absent', 1, 0.25, 0, 0, 0, NaN], // D: d undefined (no negatives), left out of mean d
    ['all', 4, 1, 0.5, 0.5, 0, (0.9 + 0.5 + 0.8) / 3],
  ]);
  assert.equal(t.table2[0].reliability, 0.75);
  assert.ok(Number.isNaN(t.table2[1].reliability));
});

test('Table 2 by quartiles of log pi(y|x): Q1 holds the least likely truths', () => {
  // Sorted log p [-9, -4, -2, -0.5]; type 7: q1 = -9 + 0.75*5 = -5.25, q2 = -4 + 0.5*2 = -3, q3 = -2 + 0.25*1.5 = -1.625.
  const t = stratify(handBuilt(false), { beam: 12, difficulty: 'prob-quartiles', disc: { mode: 'rho', rho: 0.8 } });
  assert.equal(t.difficultyMode, 'prob-quartiles');
  const got = t.table2.map((r) => [r.difficulty, r.n, r.hrLlm, r.hrRm, r.delta, r.meanD]);
  assert.deepEqual(got, [
    ['Q1 log p<-5.25', 1, 0, 0, 0, NaN], //  D: absent from the beam
    ['Q2 [-5.25,-3)', 1, 0, 1, 1, 0.8], //   C: rank 11, the ranker lifts it to 7
    ['Q3 [-3,-1.625)', 1, 1, 1, 0, 0.5], //  B
    ['Q4 log p>=-1.625', 1, 1, 0, -1, 0.9], // A: rank 1, re-ranked to 12
    ['all', 4, 0.5, 0.5, 0, (0.9 + 0.5 + 0.8) / 3],
  ]);
  assert.deepEqual(t.table3.filter((r) => r.n > 0).map((r) => [r.difficulty.slice(0, 2), r.discriminability]), [
    ['Q1', 'd<0.8'],
    ['Q2', 'd>=0.8'],
    ['Q3', 'd<0.8'],
    ['Q4', 'd>=0.8'],
    ['al', 'd<0.8'],
    ['al', 'd>=0.8'],
  ]);
  const md = formatMarkdown(t, { run: 'r', stage: 'rl', checkpoint: 'best', split: 'test', beam: 12, inBatchNegatives: 5, negativeBatch: 32, disc: { mode: 'rho', rho: 0.8 } });
  assert.match(md, /## Table 2: by difficulty \(quartiles of log pi\(y\|x\)/);
  // The header says what d is: the margin test unless the run's gate used another estimator.
  assert.match(md, /d \(margin estimator\) = share of negatives \(distinct valid beam items other than the truth \+ 5 in-batch ground truths, batches of 32\) that the ranker scores below the truth, ties 1\/2; split at rho = 0\.8\./);
  const cal = formatMarkdown(t, { run: 'r', stage: 'rl', checkpoint: 'best', split: 'test', beam: 12, inBatchNegatives: 5, negativeBatch: 32, estimator: 'calibrated', disc: { mode: 'rho', rho: 0.6 } });
  assert.match(cal, /d \(calibrated estimator\) = predicted share of pairs of the truth and its negatives .* that the ranker orders right/);
  const broken = handBuilt(false);
  broken[2].gtLogProb = NaN;
  assert.throws(() => stratify(broken, { beam: 12, difficulty: 'prob-quartiles', disc: { mode: 'rho', rho: 0.8 } }), /finite gtLogProb/);
});

test('Table 3: difficulty x discriminability cells at rho, and the compare difference per cell', () => {
  const t = stratify(handBuilt(true), { beam: 12, disc: { mode: 'rho', rho: 0.8 } });
  assert.equal(t.table3.length, (5 + 1) * 2); // five difficulty bins and 'all', by two d bins
  const nonEmpty = t.table3.filter((r) => r.n > 0).map((r) => [r.difficulty, r.discriminability, r.n, r.share, r.delta, r.hrOther, r.deltaCompare]);
  // Compare: this run's HR@10 (LLM) minus the other's on the same samples.
  //   A: 1 - 1 (other rank 2) = 0;  B: 1 - 0 (absent) = +1;  C: 0 - 1 (rank 3) = -1;  D: 0 - 1 (rank 10) = -1.
  assert.deepEqual(nonEmpty, [
    ['1', 'd>=0.8', 1, 0.25, -1, 1, 0],
    ['2-5', 'd<0.8', 1, 0.25, 0, 0, 1],
    ['11-12', 'd>=0.8', 1, 0.25, 1, 1, -1],
    ['absent', 'd<0.8', 1, 0.25, 0, 1, -1], // NaN d counts as not discriminable, as in the gate
    ['all', 'd<0.8', 2, 0.5, 0, 0.5, 0], // B and D
    ['all', 'd>=0.8', 2, 0.5, 0, 1, -0.5], // A and C
  ]);
  // Overall: HR@10 this 2/4, other 3/4 → -1/4, in Table 1 and the "all" row of Table 2.
  const hr10 = t.table1.find((r) => r.metric === 'hr@10')!;
  close(hr10.other!, 0.75); close(hr10.deltaCompare!, -0.25);
  close(t.table2.at(-1)!.deltaCompare!, -0.25);
});

test('Table 3 gate precision: RM reliability of the cell minus that of its difficulty\'s other d cells', () => {
  const samples = handBuilt(false);
  // Reliability A 0.75 (d 0.9), B 0.6 (d 0.5), C 0.9 (d 0.8), D 0.5 (no negatives).
  [0.75, 0.6, 0.9, 0.5].forEach((r, i) => (samples[i].reliability = r));
  const t = stratify(samples, { beam: 12, disc: { mode: 'rho', rho: 0.8 } });
  const row = (diff: string, disc: string) => t.table3.find((r) => r.difficulty === diff && r.discriminability === disc)!;
  // Over all samples: admitted (d >= rho) {A, C} 0.825, rejected {B, D} 0.55: precision +0.275.
  close(row('all', 'd>=0.8').gatePrecision, 0.825 - 0.55);
  close(row('all', 'd<0.8').gatePrecision, 0.55 - 0.825);
  // Difficulty 1 holds A alone: nothing rejected to compare with.
  assert.ok(Number.isNaN(row('1', 'd>=0.8').gatePrecision));
  const md = formatMarkdown(t, { run: 'r', stage: 'rl', checkpoint: 'best', split: 'test', beam: 12, inBatchNegatives: 5, negativeBatch: 32, disc: { mode: 'rho', rho: 0.8 } });
  assert.match(md, /\| all +\| d>=0\.8 +\| +2 \| +50\.0% \|.*\| +0\.8250 \| +\+0\.2750 \|/);
  assert.match(md, /gate precision = RM reliability of this cell/);
  assert.match(formatCsv(t), /^3,all,d>=0\.8,gate_precision,0\.275$/m);
});

test('quartile cells put each sample by its d; empty cells print "-"', () => {
  // d = 0.9, 0.5, 0.8 → quartiles 0.65, 0.8, 0.85 (type 7: h = 0.5, 1, 1.5 over [0.5, 0.8, 0.9]).
  const t = stratify(handBuilt(false), { beam: 12, disc: { mode: 'quartiles' } });
  t.discBins.slice(1).forEach((b, i) => close(b.lo, [0.65, 0.8, 0.85][i]));
  const cellOf = (diff: string) => t.table3.filter((r) => r.difficulty === diff && r.n > 0).map((r) => r.discriminability.slice(0, 2));
  assert.deepEqual(['1', '2-5', '11-12', 'absent'].map(cellOf), [['Q4'], ['Q1'], ['Q3'], ['Q1']]);
  const md = formatMarkdown(t, { run: 'r', stage: 'rl', checkpoint: 'best', split: 'test', beam: 12, inBatchNegatives: 5, negativeBatch: 32, disc: { mode: 'quartiles' } });
  assert.match(md, /\| 6-10 +\| Q1 d<0\.65 +\| +0 \| +0\.0% \| +- \|/);
});

test('markdown and csv carry the three tables and the compare columns', () => {
  const t = stratify(handBuilt(true), { beam: 12, disc: { mode: 'rho', rho: 0.8 } });
  const md = formatMarkdown(t, {
    run: 'runs/a',
    stage: 'rl',
    checkpoint: 'best',
    step: 40,
    split: 'test',
    beam: 12,
    inBatchNegatives: 5,
    negativeBatch: 32,
    disc: { mode: 'rho', rho: 0.8 },
    compare: { run: 'runs/b', stage: 'rl', checkpoint: 'best', step: 40 },
  });
  assert.match(md, /## Table 1/);
  // HR@5 of the other run: A (rank 2) and C (rank 3) of 4 = 0.5, the same as this run's 0.5.
  assert.match(md, /\| hr@5 +\| 0\.5000 \| 0\.2500 \| -0\.2500 \| +0\.5000 \| +\+0\.0000 \|/);
  assert.match(md, /\| 11-12 +\| +1 \| +25\.0% \| +0\.0000 \| +1\.0000 \| \+1\.0000 \| 0\.8000 \| +- \| +1\.0000 \| +-1\.0000 \|/);
  assert.match(md, /cells are defined by THIS run/);
  assert.match(md, /1 samples had no negatives/);
  const csv = formatCsv(t).trim().split('\n');
  assert.equal(csv[0], 'table,difficulty,discriminability,statistic,value');
  assert.ok(csv.includes('1,all,all,hr@5_rm_minus_llm,-0.25'));
  assert.ok(csv.includes('3,2-5,d<0.8,hr@10_this_minus_other,1'));
  assert.ok(csv.includes('2,6-10,all,hr@10_llm,')); // empty bin: no value
  assert.ok(csv.includes('2,all,all,mean_d,0.733333'));
});
