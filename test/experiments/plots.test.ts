import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { curveData, frontierData, frontierSpec, renderSvg, trainingCurvesSpec } from '../../src/experiments/plots.js';
import { collectRuns, groupRuns, summarize } from '../../src/experiments/report.js';
import { tmpDir } from '../helpers/tmp.js';
import { writeFakeRun } from './fixtures.js';

function fixture() {
  const runsDir = tmpDir();
  const dirs = [1, 2].map((seed) =>
    writeFakeRun({
      runsDir,
      name: 'ada',
      seed,
      sets: ['rl.algorithm=adagrpo'],
      test: { best: { 'hr@10': 0.1 * seed, 'hallucination@10': 0.01 }, final: { 'hr@10': 0.1, 'hallucination@10': 0.02 * seed } },
      rl: [
        { step: 0, kind: 'valid', 'hr@10': 0.05 * seed },
        { step: 1, admission: 0.1 * seed, rewardMean: 0.5, kl: 0 },
        { step: 2, admission: 0.3, rewardMean: 0.6, kl: 0.01 * seed },
        { step: 2, kind: 'test', checkpoint: 'final', 'hr@10': 0.9 },
      ],
    }),
  );
  dirs.push(writeFakeRun({ runsDir, name: 'nll', seed: 1, sets: ['rl.algorithm=nll'], test: { best: { 'hr@10': 0.2, 'hallucination@10': 0.03 } } }));
  return groupRuns(collectRuns(dirs).runs);
}

describe('plots', () => {
  it('curve points: mean, min and max over seeds per configuration, panel and step', () => {
    const groups = fixture();
    const pts = curveData(groups).filter((p) => p.configuration === 'rl.algorithm=adagrpo');
    // admission at step 1: seeds 0.1 and 0.2 → mean 0.15, min 0.1, max 0.2; validation rows and test rows stay apart.
    assert.deepEqual(
      pts.filter((p) => p.panel === 'admission rate').map((p) => [p.step, +p.mean.toFixed(6), p.min, p.max, p.n]),
      [
        [1, 0.15, 0.1, 0.2, 2],
        [2, 0.3, 0.3, 0.3, 2],
      ],
    );
    assert.deepEqual(
      pts.filter((p) => p.panel === 'validation HR@10').map((p) => [p.step, +p.mean.toFixed(6)]),
      [[0, 0.075]],
    );
  });

  it('per-step curves of long runs are averaged over windows of steps, per seed, then over seeds; validation points are kept', () => {
    const runsDir = tmpDir();
    // Steps 1..10, admission = step/10 (seed 1) and step/5 (seed 2); validation at steps 0 and 10.
    const dirs = [1, 2].map((seed) =>
      writeFakeRun({
        runsDir,
        name: 'long',
        seed,
        sets: ['rl.algorithm=adagrpo'],
        test: { best: { 'hr@10': 0.1 } },
        rl: [
          { step: 0, kind: 'valid', 'hr@10': 0.1 },
          ...Array.from({ length: 10 }, (_, i) => ({ step: i + 1, admission: ((i + 1) * seed) / 10, rewardMean: 0, kl: 0 })),
          { step: 10, kind: 'valid', 'hr@10': 0.2 },
        ],
      }),
    );
    const groups = groupRuns(collectRuns(dirs).runs);
    // maxPoints 5: w = ⌈11/5⌉ = 3; windows {1,2} → step 2, {3,4,5} → 5, {6,7,8} → 8, {9,10} → 10.
    // Seed 1 means: 0.15, 0.4, 0.7, 0.95; seed 2 doubles them.
    const pts = curveData(groups, { maxPoints: 5 });
    assert.deepEqual(
      pts.filter((p) => p.panel === 'admission rate').map((p) => [p.step, +p.mean.toFixed(6), +p.min.toFixed(6), +p.max.toFixed(6), p.n]),
      [
        [2, 0.225, 0.15, 0.3, 2],
        [5, 0.6, 0.4, 0.8, 2],
        [8, 1.05, 0.7, 1.4, 2],
        [10, 1.425, 0.95, 1.9, 2],
      ],
    );
    assert.deepEqual(
      pts.filter((p) => p.panel === 'validation HR@10').map((p) => [p.step, p.mean]),
      [
        [0, 0.1],
        [10, 0.2],
      ],
    );
    // The default keeps every step of a 10-step run.
    assert.equal(curveData(groups).filter((p) => p.panel === 'admission rate').length, 10);
  });

  it('frontier points carry 95% CI ends, none for a single seed; both figures render as SVG', async () => {
    const groups = fixture();
    const pts = frontierData(summarize(groups, ['hr@10', 'hallucination@10']));
    const best = pts.find((p) => p.configuration === 'rl.algorithm=adagrpo' && p.checkpoint === 'best')!;
    // hr@10 0.1, 0.2: mean 0.15, s = 0.070711, half = t_{0.975,1}·s/√2 = 12.7062·0.05 = 0.63531.
    assert.ok(Math.abs(best.hr - 0.15) < 1e-12);
    assert.ok(Math.abs(best.hrHigh! - (0.15 + 0.63531)) < 1e-4);
    assert.equal(best.halLow, 0.01); // both seeds 0.01: a zero-width interval
    const nll = pts.find((p) => p.configuration === 'rl.algorithm=nll')!;
    assert.equal(nll.hrLow, null);

    for (const spec of [trainingCurvesSpec(curveData(groups), 'curves'), frontierSpec(pts, 'frontier')]) {
      const svg = await renderSvg(spec);
      assert.match(svg, /^<svg /);
      assert.match(svg, /rl\.algorithm=adagrpo/);
    }
  });

  it('SFT curves: validation HR@10 and training loss against the SFT step; a SASRec group adds its validation curve only', async () => {
    const runsDir = tmpDir();
    const sft = writeFakeRun({
      runsDir,
      name: 'sft',
      seed: 1,
      stage: 'sft',
      test: { best: { 'hr@10': 0.1 } },
      rows: [{ step: 10, loss: 3 }, { step: 20, loss: 2 }, { step: 20, kind: 'valid', 'hr@10': 0.05 }],
    });
    const sasrec = writeFakeRun({
      runsDir,
      name: 'sft-sasrec',
      seed: 1,
      stage: 'sasrec',
      test: { best: { 'hr@10': 0.2 } },
      rows: [{ step: 10, loss: 9 }, { step: 10, kind: 'valid', 'hr@10': 0.08 }],
    });
    const c = collectRuns([sft, sasrec]);
    const groups = [...groupRuns(c.runs), ...groupRuns(c.sasrec)];
    const pts = curveData(groups, { stage: 'sft' });
    assert.deepEqual(
      pts.map((p) => [p.configuration, p.panel, p.step, p.mean]),
      [
        ['sft', 'validation HR@10', 20, 0.05],
        ['sft', 'training loss (NLL per SID token)', 10, 3],
        ['sft', 'training loss (NLL per SID token)', 20, 2],
        ['sft-sasrec', 'validation HR@10', 10, 0.08],
      ],
    );
    const svg = await renderSvg(trainingCurvesSpec(pts, 'sft curves', 'sft'));
    assert.match(svg, /SFT step/);
    assert.doesNotMatch(svg, /RL step/);
  });
});
