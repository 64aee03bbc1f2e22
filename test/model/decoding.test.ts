import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend.js';
import { validateConfig } from '../../src/config/load.js';
import { Catalog } from '../../src/data/sid/catalog.js';
import { Rng } from '../../src/rng.js';
import { beamSearch, policyDecoder, sample, type DecodeSession, type Decoder } from '../../src/model/decoding.js';
import { Policy, buildPrompts, disposePrompts, sidLayout, type PromptBatch } from '../../src/model/policy.js';

before(async () => {
  await initBackend((process.env.ADAGRPO_TEST_BACKEND as 'wasm' | 'cpu') ?? 'wasm');
});

/**
 * A stub model with known probabilities, codebooks [3, 2, 2]:
 *   level 0: prompt 0 [0.5, 0.3, 0.2], prompt 1 [0.2, 0.3, 0.5]
 *   level 1 given c0: c0=0 [0.55, 0.45], c0=1 [0.9, 0.1], c0=2 [0.6, 0.4]
 *   level 2 given c1: c1=0 [0.7, 0.3],   c1=1 [0.2, 0.8]
 * Prompt 0's tuples: (0,0,0)=.5*.55*.7=.1925 (0,0,1)=.0825 (0,1,0)=.045 (0,1,1)=.18
 *   (1,0,0)=.3*.9*.7=.189 (1,0,1)=.081 (1,1,0)=.006 (1,1,1)=.024
 *   (2,0,0)=.2*.6*.7=.084 (2,0,1)=.036 (2,1,0)=.016 (2,1,1)=.064      (sum 1)
 */
const P0 = [
  [0.5, 0.3, 0.2],
  [0.2, 0.3, 0.5],
];
const P1 = [
  [0.55, 0.45],
  [0.9, 0.1],
  [0.6, 0.4],
];
const P2 = [
  [0.7, 0.3],
  [0.2, 0.8],
];

class StubSession implements DecodeSession {
  readonly logits0: tf.Tensor2D;
  prefixes: number[][][]; // [B][S][l]
  constructor(private readonly B: number) {
    this.logits0 = tf.tensor2d(P0.slice(0, B).map((r) => r.map(Math.log)));
    this.prefixes = Array.from({ length: B }, () => []);
  }
  advance(parents: tf.Tensor2D | null, codes: tf.Tensor2D, level: number): tf.Tensor3D {
    const c = codes.arraySync();
    const par = parents?.arraySync();
    this.prefixes = this.prefixes.map((rows, b) =>
      c[b].map((code, s) => [...(level === 1 ? [] : par ? rows[par[b][s]] : rows[s]), code]),
    );
    const table = level === 1 ? P1 : P2;
    return tf.tensor3d(this.prefixes.map((rows) => rows.map((p) => table[p[p.length - 1]].map(Math.log))));
  }
  score(codes: tf.Tensor3D): tf.Tensor3D {
    const c = codes.arraySync();
    return tf.tensor3d(c.map((rows, b) => rows.map(([a, x, y]) => [Math.log(P0[b][a]), Math.log(P1[a][x]), Math.log(P2[x][y])])));
  }
  dispose(): void {
    this.logits0.dispose();
  }
}

const stub: Decoder = { levels: 3, codebookSizes: [3, 2, 2], start: (p: PromptBatch) => new StubSession(p.batch) };

/** The stub ignores prompt contents; a batch of B empty prompts carries the batch size. */
function emptyPrompts(B: number): PromptBatch {
  return buildPrompts(sidLayout([3, 2, 2]), new Int32Array(0), Array.from({ length: B }, () => []), 1);
}

function tuples(codes: Int32Array, L: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < codes.length; i += L) out.push(Array.from(codes.subarray(i, i + L)));
  return out;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('beam search on the stub returns the exact top K with exact scores', async () => {
  // W=3, prompt 0. Level 0 keeps 0 (.5), 1 (.3), 2 (.2). Level 1 candidates: (0,0)=.275
  // (0,1)=.225 (1,0)=.27 (1,1)=.03 (2,0)=.12 (2,1)=.08 -> keep (0,0), (1,0), (0,1). Level 2:
  // (0,0,0)=.1925 (0,0,1)=.0825 (1,0,0)=.189 (1,0,1)=.081 (0,1,0)=.045 (0,1,1)=.18
  // -> (0,0,0) .1925, (1,0,0) .189, (0,1,1) .18.
  // Prompt 1 (level 0 [.2,.3,.5]): level 1 keeps (2,0)=.3 (1,0)=.27 (2,1)=.2; level 2:
  // (2,0,0)=.21 (2,0,1)=.09 (1,0,0)=.189 (1,0,1)=.081 (2,1,0)=.04 (2,1,1)=.16
  // -> (2,0,0) .21, (1,0,0) .189, (2,1,1) .16.
  const prompt = emptyPrompts(2);
  const r = await beamSearch(stub, prompt, { beam: 3, targets: Int32Array.from([0, 1, 1, 2, 0, 0]) });
  assert.equal(r.k, 3);
  assert.deepEqual(tuples(r.codes, 3), [[0, 0, 0], [1, 0, 0], [0, 1, 1], [2, 0, 0], [1, 0, 0], [2, 1, 1]]);
  close(r.scores, [0.1925, 0.189, 0.18, 0.21, 0.189, 0.16].map(Math.log), 1e-6, 'scores');
  // Ground truth (0,1,1) for prompt 0 = .18; (2,0,0) for prompt 1 = .21.
  close(r.targetLogProbs!, [Math.log(0.18), Math.log(0.21)], 1e-6, 'target log-probs');
  // W=2 and top-1: prompt 0 level 1 keeps (0,0) .275 and (1,0) .27 -> (0,0,0) .1925.
  const r2 = await beamSearch(stub, prompt, { beam: 2, topK: 1 });
  assert.deepEqual(tuples(r2.codes, 3), [[0, 0, 0], [2, 0, 0]]);
  close(r2.scores, [Math.log(0.1925), Math.log(0.21)], 1e-6, 'scores W=2');
  disposePrompts(prompt);
});

test('constrained beam search on the stub returns only catalog items, with exact scores', async () => {
  // Catalog: (0,1,1), (2,0,0), (1,1,0), (2,1,1). Prompt 0, W=2: level 0 keeps 0 (.5), 1 (.3);
  // level 1 only (0,1)=.225 and (1,1)=.03 are valid; level 2: (0,1,1)=.18 and (1,1,0)=.006.
  const catalog = new Catalog({ levels: 3, codebookSizes: [3, 2, 2], codes: Int32Array.from([0, 1, 1, 2, 0, 0, 1, 1, 0, 2, 1, 1]) });
  const prompt = emptyPrompts(1);
  const r = await beamSearch(stub, prompt, { beam: 2, mask: catalog });
  assert.deepEqual(tuples(r.codes, 3), [[0, 1, 1], [1, 1, 0]]);
  close(r.scores, [Math.log(0.18), Math.log(0.006)], 1e-6, 'scores');
  // W=6 > the 4 items: the last two beams have no candidate left (score -Infinity).
  const r6 = await beamSearch(stub, prompt, { beam: 6, mask: catalog });
  const valid = tuples(r6.codes, 3).filter((_, i) => r6.scores[i] > -Infinity);
  // All 4 items, by probability: (0,1,1) .18, (2,0,0) .084, (2,1,1) .064, (1,1,0) .006.
  assert.deepEqual(valid, [[0, 1, 1], [2, 0, 0], [2, 1, 1], [1, 1, 0]]);
  assert.deepEqual(Array.from(r6.scores.slice(4)), [-Infinity, -Infinity]);
  disposePrompts(prompt);
});

test('sampling on the stub: frequencies follow the policy, log-probs are exact, constrained samples are valid', async () => {
  const prompt = emptyPrompts(1);
  const G = 4000;
  const r = await sample(stub, prompt, { samples: G, temperature: 1, rng: new Rng(3), targets: Int32Array.from([0, 1, 1]) });
  const ts = tuples(r.codes, 3);
  const freq = ts.filter((t) => t.join() === '0,0,0').length / G;
  // p(0,0,0) = .1925; binomial sd = sqrt(.1925*.8075/4000) = .0062: allow 4 sd.
  assert.ok(Math.abs(freq - 0.1925) < 0.025, `freq ${freq}`);
  const lp = tuples(r.logProbs as unknown as Int32Array, 3);
  ts.slice(0, 50).forEach(([a, x, y], i) => close(lp[i], [Math.log(P0[0][a]), Math.log(P1[a][x]), Math.log(P2[x][y])], 1e-6, 'lp'));
  close(r.targetLogProbs!, [Math.log(0.5), Math.log(0.45), Math.log(0.8)], 1e-6, 'target');
  // Entropy at level 0: -(.5 ln .5 + .3 ln .3 + .2 ln .2) = 1.0296530
  assert.ok(Math.abs(r.entropies[0] - 1.029653) < 1e-5);
  // Same seed, same samples.
  const again = await sample(stub, prompt, { samples: G, temperature: 1, rng: new Rng(3) });
  assert.deepEqual(again.codes, r.codes);
  // Temperature -> 0 is greedy: (0,0,0).
  const cold = await sample(stub, prompt, { samples: 20, temperature: 1e-4, rng: new Rng(4) });
  assert.ok(tuples(cold.codes, 3).every((t) => t.join() === '0,0,0'));
  const catalog = new Catalog({ levels: 3, codebookSizes: [3, 2, 2], codes: Int32Array.from([0, 1, 1, 2, 0, 0, 1, 1, 0, 2, 1, 1]) });
  const cons = await sample(stub, prompt, { samples: 500, temperature: 1.5, rng: new Rng(5), mask: catalog });
  assert.ok(tuples(cons.codes, 3).every((t) => catalog.lookup(t) >= 0));
  disposePrompts(prompt);
});

/** 12 items over codebooks [5, 4, 3] (60 possible tuples, so most tuples are no item). */
const layout = sidLayout([5, 4, 3]);
const codes = Int32Array.from([0, 1, 2, 1, 0, 0, 4, 3, 1, 2, 2, 2, 0, 1, 0, 3, 3, 1, 1, 1, 1, 2, 0, 1, 4, 0, 0, 0, 3, 2, 3, 1, 0, 1, 2, 1]);
const policyConfig = validateConfig({ policy: { layers: 2, dim: 16, heads: 2, dropout: 0, maxHistory: 4 } }).policy;

/** Every tuple's per-token log-probs under the policy, by teacher forcing: [B][60][3]. */
function allTuples(pol: Policy, prompt: PromptBatch): { tuples: number[][]; lp: number[][][] } {
  const all: number[][] = [];
  for (let a = 0; a < 5; a++) for (let b = 0; b < 4; b++) for (let c = 0; c < 3; c++) all.push([a, b, c]);
  const lp = tf.tidy(() => {
    const comp = tf.tensor3d(Array.from({ length: prompt.batch }, () => all), [prompt.batch, all.length, 3], 'int32');
    return pol.sequenceLogProbs(prompt, comp).logProbs.arraySync();
  });
  return { tuples: all, lp };
}

/** Reference beam search in JS over exact prefix scores. */
function referenceBeam(lp: number[][], all: number[][], W: number, allowed?: (t: number[]) => boolean): { t: number[]; s: number }[] {
  let beams: { t: number[]; s: number }[] = [{ t: [], s: 0 }];
  for (let l = 0; l < 3; l++) {
    const cands: { t: number[]; s: number }[] = [];
    for (const bm of beams) {
      for (let i = 0; i < all.length; i++) {
        const t = all[i];
        if (t.slice(0, l).join() !== bm.t.join() || cands.some((c) => c.t.join() === t.slice(0, l + 1).join())) continue;
        const ok = !allowed || allowed(t.slice(0, l + 1));
        cands.push({ t: t.slice(0, l + 1), s: ok ? bm.s + lp[i][l] : -Infinity });
      }
    }
    cands.sort((x, y) => y.s - x.s);
    beams = cands.slice(0, W);
  }
  return beams;
}

test('beam search of the policy matches a reference beam over teacher-forced scores, constrained or not', async () => {
  const pol = Policy.create(policyConfig, layout, new Rng(9));
  const dec = policyDecoder(pol);
  const catalog = new Catalog({ levels: 3, codebookSizes: [5, 4, 3], codes });
  const prompt = buildPrompts(layout, codes, [[0, 1, 2], [], [5, 6, 7, 8, 9, 10]], 4);
  const { tuples: all, lp } = allTuples(pol, prompt);
  for (const W of [1, 4, 60]) {
    for (const constrained of [false, true]) {
      const r = await beamSearch(dec, prompt, { beam: W, mask: constrained ? catalog : null });
      for (let b = 0; b < 3; b++) {
        const isPrefix = (p: number[]) => catalog.allowedNext(p.slice(0, -1)).includes(p[p.length - 1]);
        const ref = referenceBeam(lp[b], all, W, constrained ? isPrefix : undefined).filter((x) => x.s > -Infinity);
        const got = tuples(r.codes.subarray(b * r.k * 3, (b + 1) * r.k * 3), 3).slice(0, ref.length);
        assert.deepEqual(got, ref.map((x) => x.t), `W=${W} constrained=${constrained} prompt ${b}`);
        close(r.scores.subarray(b * r.k, b * r.k + ref.length), ref.map((x) => x.s), 1e-5, `scores W=${W}`);
        if (constrained) for (let i = 0; i < r.k; i++) if (r.scores[b * r.k + i] > -Infinity) assert.ok(catalog.lookup(r.codes, (b * r.k + i) * 3) >= 0);
      }
      if (W === 60 && !constrained) {
        // Exhaustive: every tuple, and probabilities sum to 1 per prompt.
        for (let b = 0; b < 3; b++) {
          const total = Array.from(r.scores.subarray(b * 60, (b + 1) * 60)).reduce((s, x) => s + Math.exp(x), 0);
          assert.ok(Math.abs(total - 1) < 1e-4, `total ${total}`);
        }
      }
    }
  }
  disposePrompts(prompt);
  pol.dispose();
});

test('decoding the policy leaves the tensor count flat', async () => {
  const pol = Policy.create(policyConfig, layout, new Rng(2));
  const dec = policyDecoder(pol);
  const catalog = new Catalog({ levels: 3, codebookSizes: [5, 4, 3], codes });
  const prompt = buildPrompts(layout, codes, [[0, 1], [3]], 4);
  const rng = new Rng(1);
  const work = async () => {
    await beamSearch(dec, prompt, { beam: 5, mask: catalog, targets: Int32Array.from([0, 1, 2, 1, 0, 0]) });
    await beamSearch(dec, prompt, { beam: 7 });
    await sample(dec, prompt, { samples: 6, temperature: 1, rng, mask: catalog, targets: Int32Array.from([0, 1, 2, 1, 0, 0]) });
  };
  await work();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await work();
  assert.equal(tf.memory().numTensors, before);
  disposePrompts(prompt);
  pol.dispose();
});
