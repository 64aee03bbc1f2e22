import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { baselineFor, checkUpstream, collectRuns, compare, configIdentity, groupRuns, pairedCsv, parseBaseline, readTestMetrics, references, renderMarkdown, sftCurveNotes, sftTrainingSummary, summarize, summaryCsv, testedStage, trainingSummary } from '../../src/experiments/report.js';
import { csvField } from '../../src/io/tables.js';
import { tmpDir } from '../helpers/tmp.js';
import { fakeConfig, writeFakeRun } from './fixtures.js';

const close = (a: number, b: number, tol = 1e-4) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b} (tol ${tol})`);

// Test HR@10 at best: nll 0.10/0.12/0.11, adagrpo 0.12/0.13/0.13 on seeds 1/2/3.
const HR = { nll: [0.1, 0.12, 0.11], adagrpo: [0.12, 0.13, 0.13] };

function twoConfigs(runsDir: string): string[] {
  const dirs: string[] = [];
  for (const alg of ['nll', 'adagrpo'] as const) {
    HR[alg].forEach((hr, i) => {
      const seed = i + 1;
      dirs.push(
        writeFakeRun({
          runsDir,
          name: `qs-rl.algorithm_${alg}`,
          seed,
          sets: [`rl.algorithm=${alg}`],
          test: { best: { 'hr@10': hr, 'hallucination@10': 0.01 * seed }, final: { 'hr@10': hr - 0.01, 'hallucination@10': 0.02 } },
          rl: [
            { step: 1, admission: alg === 'nll' ? 0 : 0.2, effectiveRlWeight: alg === 'nll' ? 0 : 0.2 },
            { step: 2, admission: alg === 'nll' ? 0 : 0.4, effectiveRlWeight: alg === 'nll' ? 0 : 0.4 },
            // Step 2 logged again after a resume: the last row counts, once.
            { step: 2, admission: alg === 'nll' ? 0 : 0.4 * seed, effectiveRlWeight: alg === 'nll' ? 0 : 0.4 * seed },
            { step: 2, kind: 'valid', 'hr@10': 0.1 },
          ],
        }),
      );
    });
  }
  return dirs;
}

describe('collecting and grouping runs', () => {
  it('reads test metrics from eval/rl-<checkpoint>-test.json, else from kind "test" rows', () => {
    const runsDir = tmpDir();
    const a = writeFakeRun({ runsDir, name: 'a', seed: 1, test: { best: { 'hr@10': 0.2 } } });
    const b = writeFakeRun({ runsDir, name: 'b', seed: 1, rl: [{ kind: 'test', checkpoint: 'final', step: 4, 'hr@10': 0.3, time: 'x' }] });
    assert.deepEqual(readTestMetrics(a), { best: { 'hr@10': 0.2 } });
    assert.deepEqual(readTestMetrics(b), { final: { 'hr@10': 0.3 } });
    // Both: train's own row wins over a file that a later `eval` may have written with other settings.
    const c = writeFakeRun({ runsDir, name: 'c', seed: 1, test: { best: { 'hr@10': 0.9 } }, rl: [{ kind: 'test', checkpoint: 'best', step: 4, 'hr@10': 0.25 }] });
    assert.deepEqual(readTestMetrics(c), { best: { 'hr@10': 0.25 } });
  });

  it('groups by everything but the seed, labels by the keys that differ, leaves unfinished runs out', () => {
    const runsDir = tmpDir();
    const dirs = twoConfigs(runsDir);
    const stray = writeFakeRun({ runsDir, name: 'qs-rl.algorithm_nll', seed: 4, sets: ['rl.algorithm=nll'], status: 'interrupted' });
    const { runs, notes } = collectRuns([...dirs, stray]);
    assert.equal(runs.length, 6);
    assert.match(notes[0], /qs-rl.algorithm_nll_s4: left out \(status interrupted\)/);
    const groups = groupRuns(runs);
    assert.deepEqual(
      groups.map((g) => [g.label, g.runs.map((r) => r.seed)]),
      [
        ['rl.algorithm=nll', [1, 2, 3]],
        ['rl.algorithm=adagrpo', [1, 2, 3]],
      ],
    );
    assert.deepEqual(groups[1].values, { 'rl.algorithm': 'adagrpo' });
  });

  it('refuses two runs of one configuration and seed, and folders that are not runs', () => {
    const runsDir = tmpDir();
    const a = writeFakeRun({ runsDir, name: 'a', seed: 1 });
    const b = writeFakeRun({ runsDir, name: 'b', seed: 1 });
    assert.throws(() => groupRuns(collectRuns([a, b]).runs), /same configuration and seed 1/);
    assert.throws(() => collectRuns([runsDir]), /neither a run folder/);
  });

  it('a random gate matched to the run of its own seed groups across seeds', () => {
    const runsDir = tmpDir();
    const id = (seed: number) => configIdentity(fakeConfig(runsDir, 'rg', seed, ['rl.algorithm=random-gate', `rl.randomGate.matchRun=runs/ada_s${seed}`]));
    assert.deepEqual(id(1), id(2));
    assert.equal((id(1).rl as { randomGate: { matchRun: string } }).randomGate.matchRun, 'runs/ada_s{seed}');
  });

  it('so does a λ matched to the run of its own seed, and it stays apart from the unmatched λ', () => {
    const runsDir = tmpDir();
    const id = (seed: number, sets: string[]) => configIdentity(fakeConfig(runsDir, 'lm', seed, sets));
    const matched = (seed: number) => id(seed, ['rl.algorithm=grpo+nll', `rl.lambdaMatchRun=runs/ada_s${seed}`]);
    assert.deepEqual(matched(1), matched(3));
    assert.equal((matched(1).rl as { lambdaMatchRun: string }).lambdaMatchRun, 'runs/ada_s{seed}');
    assert.notDeepEqual(matched(1), id(1, ['rl.algorithm=grpo+nll']));
  });

  it('a label names only the varying keys its own configuration sets', () => {
    const runsDir = tmpDir();
    const run = (name: string, sets: string[]) => writeFakeRun({ runsDir, name, seed: 1, sets: ['rl.randomGate.matchRun=runs/ada_s1', ...sets] });
    const dirs = [run('nll', ['rl.algorithm=nll']), run('rg', ['rl.algorithm=random-gate']), run('lm', ['rl.algorithm=grpo+nll', 'rl.lambdaMatchRun=runs/ada_s1'])];
    assert.deepEqual(
      groupRuns(collectRuns(dirs).runs).map((g) => g.label),
      ['rl.algorithm=nll', 'rl.algorithm=random-gate, rl.randomGate.p=0.12, rl.randomGate.matchRun=runs/ada_s{seed}', 'rl.algorithm=grpo+nll, rl.lambdaMatchRun=runs/ada_s{seed}'],
    );
  });

  it('the backend and its threads do not split a configuration (they change speed, not results)', () => {
    const runsDir = tmpDir();
    const a = fakeConfig(runsDir, 'a', 1, ['threads=2', 'backend=wasm']);
    const b = fakeConfig(runsDir, 'b', 1);
    assert.deepEqual(configIdentity(a), configIdentity(b));
  });

  it('rl.randomGate splits only random-gate configurations', () => {
    const runsDir = tmpDir();
    const id = (sets: string[]) => configIdentity(fakeConfig(runsDir, 'g', 1, sets));
    assert.deepEqual(id(['rl.algorithm=nll', 'rl.randomGate.matchRun=runs/ada_s1']), id(['rl.algorithm=nll']));
    assert.notDeepEqual(id(['rl.algorithm=random-gate', 'rl.randomGate.p=0.3']), id(['rl.algorithm=random-gate']));
  });
});

describe('checkUpstream', () => {
  it('accepts runs that share data, and per seed the SFT and ranker stages', () => {
    const runsDir = tmpDir();
    checkUpstream(collectRuns(twoConfigs(runsDir)).runs);
  });

  it('refuses runs of one seed with different SFT stages, naming the seed, the runs and the settings', () => {
    const runsDir = tmpDir();
    const a = writeFakeRun({ runsDir, name: 'a', seed: 2, sft: 'aaa' });
    const b = writeFakeRun({ runsDir, name: 'b', seed: 2, sft: 'bbb', sets: ['sft.steps=7', 'rl.lambda=0.3'] });
    assert.throws(
      () => checkUpstream(collectRuns([a, b]).runs),
      (e: unknown) =>
        e instanceof UserError &&
        /seed 2: the runs do not share one SFT stage \(sft-aaa: a_s2; sft-bbb: b_s2\); settings that differ: sft.steps/.test(e.message) &&
        !/rl.lambda/.test(e.message),
    );
  });

  it('refuses different data, from the settings or from the hashes a sweep recorded', () => {
    const runsDir = tmpDir();
    const a = writeFakeRun({ runsDir, name: 'a', seed: 1 });
    const b = writeFakeRun({ runsDir, name: 'b', seed: 2, sets: ['data.synthetic.numUsers=999'] });
    assert.throws(() => checkUpstream(collectRuns([a, b]).runs), /data differ: a_s1 vs b_s2; settings that differ: data.synthetic.numUsers/);

    // Same settings, different recorded data hashes (the input files changed between the runs).
    const sweepDir = path.join(runsDir, 'sweeps', 's');
    fs.mkdirSync(sweepDir, { recursive: true });
    const entry = (dir: string, data: string) => ({ name: '', seed: 0, dir: path.relative(sweepDir, dir), grid: {}, status: 'completed', upstream: { data } });
    const c = writeFakeRun({ runsDir, name: 'c', seed: 1 });
    const d = writeFakeRun({ runsDir, name: 'd', seed: 2 });
    fs.writeFileSync(path.join(sweepDir, 'sweep.json'), JSON.stringify({ formatVersion: 1, name: 's', createdAt: 'x', updatedAt: 'x', invocations: [], runs: [entry(c, 'h1'), entry(d, 'h2')] }));
    assert.throws(() => checkUpstream(collectRuns([sweepDir]).runs), /data differ: c_s1 \(data hash h1\) vs d_s2 \(data hash h2\); same settings/);
  });
});

describe('statistics tables', () => {
  it('pins mean ± CI per configuration and the paired test against the baseline', () => {
    const runsDir = tmpDir();
    const groups = groupRuns(collectRuns(twoConfigs(runsDir)).runs);
    const baselines = baselineFor(groups, parseBaseline(['rl.algorithm=nll']));
    assert.equal(baselines.get(groups[1]), groups[0]);
    assert.equal(baselines.size, 1);

    const summary = summarize(groups, ['hr@10', 'hallucination@10']);
    // nll hr@10 at best: mean 0.11, s = 0.01, half = t_{0.975,2}·0.01/√3 = 4.3027·0.005774 = 0.024841.
    const nll = summary.find((s) => s.group === groups[0] && s.checkpoint === 'best' && s.metric === 'hr@10')!;
    close(nll.ci.mean, 0.11, 1e-12);
    close(nll.ci.half, 0.024841);
    assert.deepEqual(nll.seeds, [1, 2, 3]);

    // adagrpo − nll per seed: d = [0.02, 0.01, 0.02]; mean 0.016667, s = 0.0057735, se = 0.0033333, t = 5.0 on 2 df.
    // df 2 closed form: F(5) = 1/2 + 5/(2√27) = 0.9811252; p = 2(1 − F) = 0.0377496. CI half = 4.3027·0.0033333 = 0.014342.
    const paired = compare(groups, baselines, ['hr@10']);
    const best = paired.find((p) => p.checkpoint === 'best')!;
    assert.deepEqual(best.seeds, [1, 2, 3]);
    close(best.test.mean, 0.0166667);
    close(best.test.t, 5);
    close(best.test.p, 0.0377496);
    close(best.test.half, 0.014342);
    // At final every run lost 0.01: the same differences.
    close(paired.find((p) => p.checkpoint === 'final')!.test.p, 0.0377496);

    const training = trainingSummary(groups);
    // adagrpo seed s: steps 1 and 2 (last row) → admission (0.2 + 0.4·s)/2 = 0.3, 0.5, 0.7 → mean 0.5.
    close(training[1].admission.mean, 0.5, 1e-12);
    assert.deepEqual(training[1].steps, [2, 2, 2]);

    const md = renderMarkdown({ title: 'T', groups, metrics: ['hr@10', 'hallucination@10'], summary, paired, training, baselineLabel: 'rl.algorithm=nll', notes: ['n1'] });
    assert.match(md, /\| rl.algorithm=nll \| 3 \| 1,2,3 \| 0.1100 ± 0.0248 \| 0.0200 ± 0.0248 \|/);
    assert.match(md, /\| rl.algorithm=adagrpo \| rl.algorithm=nll \| hr@10 \| 3 \| s1: \+0.0200, s2: \+0.0100, s3: \+0.0200 \| \+0.0167 \| \[\+0.0023, \+0.0310\] \| 0.0377 \|/);
    assert.match(md, /- n1/);

    const csv = summaryCsv(groups, summary).split('\n');
    assert.equal(csv[0], 'configuration,rl.algorithm,checkpoint,metric,n,seeds,mean,sd,ci95_low,ci95_high,values');
    assert.match(csv[1], /^rl.algorithm=nll,nll,best,hr@10,3,1 2 3,0.11,/);
    assert.match(pairedCsv(paired).split('\n')[1], /^rl.algorithm=adagrpo,rl.algorithm=nll,best,hr@10,3,1 2 3,/);
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "x"'), '"say ""x"""');
  });

  it('summarises the gate\'s precision: true agreement on admitted and rejected samples, their difference, and the proxy', () => {
    const runsDir = tmpDir();
    // Seed s: step 1 admits with true agreement 0.8 vs 0.7 (+0.1), step 2 admits nothing (no admitted
    // mean: skipped), step 3 0.9 vs 0.7 + 0.1·s. Per run: admitted mean 0.85; rejected (0.7 + 0.7 + 0.7 + 0.1s)/3;
    // difference over steps 1 and 3: (0.1 + 0.2 − 0.1s)/2.
    const dirs = [1, 2, 3].map((seed) =>
      writeFakeRun({
        runsDir,
        name: 'gate',
        seed,
        rl: [
          { step: 1, admission: 0.5, effectiveRlWeight: 0.5, reliabilityAdmitted: 0.8, reliabilityRejected: 0.7, proxyAdmitted: 0.9, proxyRejected: 0.6 },
          { step: 2, admission: 0, effectiveRlWeight: 0, reliabilityAdmitted: null, reliabilityRejected: 0.7, proxyAdmitted: null, proxyRejected: 0.6 },
          { step: 3, admission: 0.5, effectiveRlWeight: 0.5, reliabilityAdmitted: 0.9, reliabilityRejected: 0.7 + 0.1 * seed, proxyAdmitted: 0.9, proxyRejected: 0.6 },
        ],
      }),
    );
    const nll = writeFakeRun({ runsDir, name: 'nll', seed: 1, sets: ['rl.algorithm=nll'], rl: [{ step: 1, admission: 0, effectiveRlWeight: 0, reliabilityRejected: 0.7, proxyRejected: 0.5 }] });
    const groups = groupRuns(collectRuns([...dirs, nll]).runs);
    const t = trainingSummary(groups).find((x) => x.group.runs.length === 3)!;
    close(t.reliabilityAdmitted.mean, 0.85, 1e-12);
    close(t.reliabilityRejected.mean, (0.7 * 3 + 0.2) / 3, 1e-12); // mean over seeds of (2.1 + 0.1s)/3; sd 0.0333, half 0.0828
    // Differences per seed: 0.1, 0.05, 0.0 → mean 0.05, sd 0.05, CI half 4.3027·0.05/√3 = 0.124209.
    assert.deepEqual(t.precision.n, 3);
    close(t.precision.mean, 0.05, 1e-12);
    close(t.precision.half, 0.124209, 1e-5);
    close(t.proxyGap.mean, 0.3, 1e-12);
    const md = renderMarkdown({ title: 'T', groups, metrics: ['hr@10'], summary: summarize(groups, ['hr@10']), paired: [], training: trainingSummary(groups), baselineLabel: null, notes: [] });
    assert.match(md, /## Gate precision/);
    assert.match(md, /\| [^|]+ \| 3 \| 0\.8500 ± 0\.0000 \| 0\.7667 ± 0\.0828 \| \+0\.0500 \[-0\.0742, \+0\.1742\] \| 0\.9000 ± 0\.0000 \| 0\.6000 ± 0\.0000 \| \+0\.3000 \[\+0\.3000, \+0\.3000\] \|/);
    // nll admits nothing: no admitted agreement, no row.
    assert.doesNotMatch(md.split('## Gate precision')[1], /rl\.algorithm=nll/);
  });

  it('pairs each configuration with the baseline that matches it on the other keys', () => {
    const runsDir = tmpDir();
    const dirs: string[] = [];
    for (const alg of ['nll', 'grpo+nll']) {
      for (const lambda of [0.1, 0.3]) {
        dirs.push(writeFakeRun({ runsDir, name: `${alg}-${lambda}`, seed: 1, sets: [`rl.algorithm=${alg}`, `rl.lambda=${lambda}`], test: { best: { 'hr@10': lambda } } }));
      }
    }
    const groups = groupRuns(collectRuns(dirs).runs);
    const baselines = baselineFor(groups, parseBaseline(['rl.algorithm=nll']));
    assert.deepEqual(
      [...baselines].map(([g, b]) => [g.label, b.label]),
      [
        ['rl.algorithm=grpo+nll, rl.lambda=0.1', 'rl.algorithm=nll, rl.lambda=0.1'],
        ['rl.algorithm=grpo+nll, rl.lambda=0.3', 'rl.algorithm=nll, rl.lambda=0.3'],
      ],
    );
    assert.throws(() => baselineFor(groups, parseBaseline(['rl.algorithm=grpo'])), /matches no configuration \(rl.algorithm takes nll, grpo\+nll\)/);
    assert.throws(() => baselineFor(groups, parseBaseline(['rl.nope=1'])), /no such config key/);
  });
});

describe('reference rows: most-popular and SASRec', () => {
  // Two RL configurations (seeds 1, 2) tested on 30 users of data hash d1; most-popular on those users.
  const POPULAR = { 'hr@10': 0.05, 'hallucination@10': 0 };
  function world(runsDir: string): string[] {
    return (['nll', 'adagrpo'] as const).flatMap((alg, a) =>
      [1, 2].map((seed) =>
        writeFakeRun({ runsDir, name: `rl-${alg}`, seed, sets: [`rl.algorithm=${alg}`], data: 'd1', users: 30, popular: POPULAR, test: { best: { 'hr@10': 0.1 + 0.01 * a }, final: { 'hr@10': 0.1 } } }),
      ),
    );
  }
  // SASRec seeds 1, 2: hr@10 at best 0.20, 0.24; at final 0.19, 0.21. Seed 2 was made from a
  // config with another rl.lambda: SASRec does not read it, so both are one configuration.
  const sasrec = (runsDir: string, o: { users?: number; data?: string } = {}) =>
    [
      { seed: 1, best: 0.2, final: 0.19, sets: [] },
      { seed: 2, best: 0.24, final: 0.21, sets: ['rl.lambda=0.5'] },
    ].map((x) =>
      writeFakeRun({
        runsDir,
        name: 'tiny-sasrec',
        seed: x.seed,
        sets: x.sets,
        stage: 'sasrec',
        data: o.data ?? 'd1',
        users: o.users ?? 30,
        popular: POPULAR,
        test: { best: { 'hr@10': x.best, 'hallucination@10': 0 }, final: { 'hr@10': x.final, 'hallucination@10': 0 } },
      }),
    );

  it('recognises SASRec run folders among the inputs and tabulates both references under the configurations', () => {
    const runsDir = tmpDir();
    const running = writeFakeRun({ runsDir, name: 'tiny-sasrec', seed: 3, stage: 'sasrec', status: 'interrupted' });
    const { runs, sasrec: baseline, notes } = collectRuns([...world(runsDir), ...sasrec(runsDir), running]);
    assert.deepEqual(notes, ['tiny-sasrec_s3: left out (status interrupted); finish it with "baseline --resume"']);
    assert.deepEqual(runs.map((r) => r.stage), ['rl', 'rl', 'rl', 'rl']);
    assert.deepEqual(baseline.map((r) => [r.label, r.stage]), [['tiny-sasrec_s1', 'sasrec'], ['tiny-sasrec_s2', 'sasrec']]);
    const refs = references(runs, baseline);
    assert.deepEqual(refs.popular, POPULAR);
    assert.deepEqual(refs.sasrec.map((g) => [g.label, g.runs.map((r) => r.seed)]), [['SASRec (tiny-sasrec)', [1, 2]]]);

    const groups = groupRuns(runs);
    const metrics = ['hr@10', 'hallucination@10'];
    const summary = summarize(groups, metrics);
    const md = renderMarkdown({ title: 'T', groups, metrics, summary, paired: [], training: trainingSummary(groups), baselineLabel: null, references: refs, notes: [] });
    const [best, final] = md.split('## Test metrics at the final checkpoint');
    // SASRec at best: mean 0.22, s = 0.028284, half = t_{0.975,1}·s/√2 = 12.7062·0.02 = 0.254124.
    assert.match(best, /\| rl.algorithm=adagrpo \| 2 \| 1,2 \| 0.1100 ± 0.0000 \| - \|\n\| most-popular \| - \| - \| 0.0500 \| 0.0000 \|\n\| SASRec \(tiny-sasrec\) \| 2 \| 1,2 \| 0.2200 ± 0.2541 \| 0.0000 ± 0.0000 \|/);
    // At final: 0.19, 0.21 → 0.20 ± 12.7062·0.01 = 0.127062; most-popular is the same at both checkpoints.
    assert.match(final, /\| most-popular \| - \| - \| 0.0500 \| 0.0000 \|\n\| SASRec \(tiny-sasrec\) \| 2 \| 1,2 \| 0.2000 ± 0.1271 \| 0.0000 ± 0.0000 \|/);
    assert.match(md, /not paired with the RL seeds/);

    const csv = summaryCsv(groups, summary, refs).split('\n');
    assert.ok(csv.includes('most-popular,,best,hr@10,,,0.05,,,,0.05'));
    assert.ok(csv.includes('most-popular,,final,hallucination@10,,,0,,,,0'));
    const row = csv.find((l) => l.startsWith('SASRec (tiny-sasrec),,best,hr@10,'))!.split(',');
    assert.deepEqual(row.slice(4, 6), ['2', '1 2']);
    close(Number(row[6]), 0.22, 1e-12);
    close(Number(row[8]), 0.22 - 0.254124);
    close(Number(row[9]), 0.22 + 0.254124);
    assert.equal(row[10], '0.2 0.24');
    // Without references the tables are as before.
    assert.doesNotMatch(renderMarkdown({ title: 'T', groups, metrics, summary, paired: [], training: [], baselineLabel: null, notes: [] }), /most-popular|SASRec/);
  });

  it('refuses SASRec tested on other data or other test users, and RL runs tested on different users', () => {
    const runsDir = tmpDir();
    const rl = world(runsDir);
    const refsOf = (dirs: string[]) => {
      const c = collectRuns(dirs);
      return references(c.runs, c.sasrec);
    };
    assert.throws(
      () => refsOf([...rl, ...sasrec(tmpDir(), { users: 20 })]),
      (e: unknown) =>
        e instanceof UserError &&
        /cannot put SASRec beside these runs/.test(e.message) &&
        /test users differ: rl-nll_s1 on 30 test users vs tiny-sasrec_s1 on 20 test users/.test(e.message) &&
        /adagrpo baseline --config \S+rl-nll_s1\/config.yaml --model sasrec/.test(e.message),
    );
    assert.throws(() => refsOf([...rl, ...sasrec(tmpDir(), { data: 'd2' })]), /data differ: rl-nll_s1 \(data hash d1\) vs tiny-sasrec_s1 \(data hash d2\)/);
    const other = writeFakeRun({ runsDir, name: 'rl-few', seed: 1, sets: ['eval.testMaxUsers=10'], data: 'd1', users: 10, test: { best: { 'hr@10': 0.1 } } });
    assert.throws(() => refsOf([...rl, other]), /tested on different users: rl-nll_s1 on 30 test users, rl-few_s1 on 10 test users \(eval.testMaxUsers 0 vs 10\)/);
    // As many users, chosen another way (eval.userSample): not the same users either.
    const spread = writeFakeRun({ runsDir, name: 'rl-spread', seed: 1, data: 'd1', users: 30, userSample: 'spread', test: { best: { 'hr@10': 0.1 } } });
    assert.throws(() => refsOf([...rl, spread]), /tested on different users: rl-nll_s1 on 30 test users, rl-spread_s1 on 30 test users spread over the split/);
    assert.throws(() => collectRuns(sasrec(tmpDir())), /only SASRec baseline runs/);
  });
});

describe('SFT-only runs (train --until sft)', () => {
  // Two SFT recipes (policy.layers 2 and 4) on seeds 1 and 2: each run its own SFT stage.
  // Validation HR@10 at steps 10, 20, 30: layers 2 peaks at step 20, layers 4 is still rising.
  const VALID = { 2: [0.05, 0.07, 0.06], 4: [0.04, 0.06, 0.08] } as const;
  const sftRuns = (runsDir: string) =>
    ([2, 4] as const).flatMap((layers) =>
      [1, 2].map((seed) =>
        writeFakeRun({
          runsDir,
          name: `sft-l${layers}`,
          seed,
          sets: [`policy.layers=${layers}`],
          stage: 'sft',
          sft: `sft-l${layers}-s${seed}`,
          data: 'd1',
          users: 30,
          test: { best: { 'hr@10': layers / 40 + seed / 100, 'hallucination@10': 0.01 } },
          rows: [
            ...VALID[layers].map((hr, i) => ({ step: 10 * (i + 1), kind: 'valid', 'hr@10': hr + (seed - 1) / 100 })),
            { step: 30, loss: 2.5 },
          ],
        }),
      ),
    );

  it('are recognised, compared on their SFT stage, and summarised by their validation curves', () => {
    const runsDir = tmpDir();
    const dirs = sftRuns(runsDir);
    assert.equal(testedStage(dirs[0]), 'sft');
    const { runs } = collectRuns(dirs);
    assert.deepEqual(runs.map((r) => r.stage), ['sft', 'sft', 'sft', 'sft']);
    // Each run trained its own SFT stage: that is what is compared, so it is not refused.
    checkUpstream(runs);
    const groups = groupRuns(runs);
    assert.deepEqual(groups.map((g) => g.label), ['policy.layers=2', 'policy.layers=4']);
    const rows = sftTrainingSummary(groups);
    // layers 2: best 0.07 (s1) and 0.08 (s2) at step 20 → mean 0.075; last 0.06, 0.07 → 0.065.
    close(rows[0].bestValid.mean, 0.075, 1e-12);
    assert.deepEqual(rows[0].bestSteps, [20, 20]);
    close(rows[0].lastValid.mean, 0.065, 1e-12);
    // layers 4: best = last = 0.08, 0.09 at step 30.
    assert.deepEqual(rows[1].bestSteps, [30, 30]);
    close(rows[1].bestValid.mean, rows[1].lastValid.mean, 1e-12);
    assert.deepEqual(rows[0].steps, [30, 30]);

    const metrics = ['hr@10'];
    const summary = summarize(groups, metrics);
    const md = renderMarkdown({ title: 'T', groups, metrics, summary, paired: [], training: [], sftTraining: rows, baselineLabel: null, notes: [] });
    assert.match(md, /Test metrics of the SFT policy at the best checkpoint/);
    // Test HR@10 at best: layers 4 = 0.1 + seed/100 → 0.11, 0.12: mean 0.115 ± 12.7062·0.005 = 0.0635.
    assert.match(md, /\| policy.layers=4 \| 2 \| 1,2 \| 0.1150 ± 0.0635 \|/);
    // Best 0.075 ± 12.7062·0.005 = 0.0635 at steps 20,20; last 0.065 ± 0.0635.
    assert.match(md, /## SFT training[\s\S]*\| policy.layers=2 \| 2 \| 30 \| 0.0750 ± 0.0635 \| 20,20 \| 0.0650 ± 0.0635 \|/);
    assert.doesNotMatch(md, /## RL training/);
    assert.deepEqual(sftCurveNotes(rows), []);
    // A run that reused a cached SFT stage logged no curve of its own: said, not drawn as zeros.
    const reused = writeFakeRun({ runsDir, name: 'sft-reused', seed: 1, stage: 'sft', sft: 'abc', test: { best: { 'hr@10': 0.1 } } });
    assert.deepEqual(sftCurveNotes(sftTrainingSummary(groupRuns(collectRuns([reused]).runs))), [
      'sft-reused_s1: no SFT curve in its metrics.jsonl: it reused the SFT stage sft-abc, whose curve is in the metrics.jsonl of the run that trained it',
    ]);
  });

  it('are never mixed with RL runs', () => {
    const runsDir = tmpDir();
    const rl = writeFakeRun({ runsDir, name: 'rl', seed: 1, test: { best: { 'hr@10': 0.1 } } });
    assert.equal(testedStage(rl), 'rl');
    assert.throws(
      () => collectRuns([rl, ...sftRuns(runsDir).slice(0, 1)]),
      (e: unknown) => e instanceof UserError && /rl_s1 is an RL run and sft-l2_s1 stopped after SFT/.test(e.message) && /Report them separately/.test(e.message),
    );
  });
});
