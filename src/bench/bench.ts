/**
 * `npm run bench`: throughput of the hot paths on the selected backend, at quickstart sizes, and
 * their share of the backend's measured matmul peak (docs/METHOD.md 6, docs/PERFORMANCE.md).
 * Timing lives here, never in tests.
 *
 *   npm run bench [-- --backend auto|tensorflow|webgpu|wasm|cpu] [--threads N] [--quick] [--history N]
 *   npm run bench -- --shapes beauty [--iters N] [--torch torch.json] [--backend ...] [--threads N]
 *
 * `--shapes beauty` (or `tiny`) times the four workloads of the PyTorch reference at its shapes
 * (src/bench/workloads.ts) and prints the same figures, plus a JSON line; `--torch` takes that
 * reference's JSON output and adds the side-by-side ratios. `--history N` measures what history
 * length costs: SFT windows of N+1 items and rollout and beam prompts of N items (random items
 * of the same world), with policy.maxHistory = N. `--threads N`: the wasm backend's XNNPACK
 * threads (config key `threads`; default 1).
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import { adapterLine, initBackend, parseBackendChoice, parseThreads, threadsLine, type BackendInfo } from '../backend.js';
import { UserError } from '../errors.js';
import { validateConfig } from '../config/load.js';
import { Catalog } from '../data/sid/catalog.js';
import { generateSyntheticWorld } from '../data/synthetic.js';
import { leaveOneOut } from '../data/splits.js';
import { beamSearch, policyDecoder, sample } from '../model/decoding.js';
import { Policy, buildPrompts, buildSequences, disposePrompts, disposeSequences, sidLayout } from '../model/policy.js';
import { Ranker } from '../model/ranker.js';
import { Rng } from '../rng.js';
import { AdamW } from '../train/optimizer.js';
import { rlPromptPool, rlStep, type RlPrompt } from '../train/rl.js';
import { rankerArch } from '../model/load.js';
import { SHAPES, matmulPeak, runWorkloads, torchRefFlags, workloadTable, type WorkloadFigures } from './workloads.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Median wall time (ms) of `reps` calls after `warm` warm-up calls; each call ends in a read-back. */
async function time(f: () => Promise<unknown>, reps: number, warm = 2): Promise<number> {
  for (let i = 0; i < warm; i++) await f();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];
}

/** `--shapes beauty|tiny`: the reference's four workloads and figures. */
async function referenceShapes(name: string, backend: BackendInfo): Promise<void> {
  const shapes = SHAPES[name];
  if (!shapes) throw new UserError(`--shapes must be one of ${Object.keys(SHAPES).join(', ')}; got "${name}"`);
  const iters = arg('--iters');
  const s = { ...shapes, iters: iters !== undefined ? Number(iters) : shapes.iters };
  if (!Number.isInteger(s.iters) || s.iters < 1) throw new UserError(`--iters must be a whole number >= 1; got "${iters}"`);
  const torchFile = arg('--torch');
  let torch: Partial<WorkloadFigures> & { torch?: string; threads?: number } | undefined;
  if (torchFile) {
    // The last JSON line of torch_ref.py's output.
    const lines = fs.readFileSync(torchFile, 'utf8').trim().split('\n');
    try {
      torch = JSON.parse(lines[lines.length - 1]) as typeof torch;
    } catch {
      throw new UserError(`--torch ${torchFile}: the last line is not torch_ref.py's JSON output`);
    }
  }
  const f = await runWorkloads(s, (l) => process.stderr.write(`  ${l}\n`));
  const label = `adagrpo ${backend.name}${backend.threads !== null ? ` (${threadsLine(backend.threads)})` : ''}`;
  process.stdout.write(
    `${label}${backend.adapter ? ` (${adapterLine(backend.adapter)})` : ''}, tfjs ${backend.tfjsVersion}, node ${process.version}; shapes ${name} ` +
      `(torch_ref.py ${torchRefFlags(s)}); policy ${f.params.toLocaleString('en-US')} parameters\n` +
      workloadTable(label, f, torch ? { label: `PyTorch ${torch.torch ?? ''} ${torch.threads ?? '?'} thread(s)`, figures: torch } : undefined) +
      `\nmatmul ${s.peakSize}^3: ${f.matmul_gflops} GFLOP/s; the SFT step reaches ${(f.sft_share_of_peak * 100).toFixed(1)}% of it (6 FLOP per parameter per token)\n` +
      JSON.stringify({ backend: backend.name, threads: backend.threads, adapter: backend.adapter, shapes: s, ...f }) +
      '\n',
  );
}

async function main(): Promise<void> {
  const backend = await initBackend(parseBackendChoice(arg('--backend') ?? 'auto'), (l) => process.stderr.write(l + '\n'), parseThreads(arg('--threads') ?? 1));
  const shapes = arg('--shapes');
  if (shapes !== undefined) return referenceShapes(shapes, backend);
  const quick = process.argv.includes('--quick');
  const historyArg = arg('--history');
  const history = historyArg === undefined ? undefined : Number(historyArg);
  if (history !== undefined && !(Number.isInteger(history) && history >= 1 && history <= 200)) {
    throw new Error(`--history expects an integer in [1, 200] (policy.maxHistory), got ${historyArg}`);
  }
  const reps = quick ? 3 : 7;
  const config = validateConfig({
    sid: { levels: 3, codebookSize: 64 },
    policy: { layers: 2, dim: 64, heads: 2, dropout: 0.1, maxHistory: history ?? 20 },
    rl: { batchSize: 32, numGenerations: 8 },
  });
  const rows: [string, string, string][] = [];

  // Matmul peak: a 1024^3 product (2 GFLOP), the reference for the shares below.
  const peak = await matmulPeak(quick ? 2 : 5); // GFLOP/s
  rows.push(['matmul 1024^3', `${peak.toFixed(1)} GFLOP/s`, '(the peak)']);

  const t0 = performance.now();
  const world = generateSyntheticWorld(config.data.synthetic);
  rows.push(['synthetic world', `${((performance.now() - t0) / 1000).toFixed(2)} s`, `${world.sequences.length} users, ${world.itemIds.length} items`]);
  const splits = leaveOneOut(world);
  const rng = new Rng(1);
  // Distinct 3 x 64 tuples for the 1,000 items (i >> 6, i & 63, scrambled): throughput does not depend on which.
  const codes = Int32Array.from({ length: world.itemIds.length * 3 }, (_, k) => {
    const i = Math.floor(k / 3);
    return [i >> 6, i & 63, (i * 37) % 64][k % 3];
  });
  const layout = sidLayout([64, 64, 64]);
  const policy = Policy.create(config.policy, layout, rng);
  const paramCount = policy.numParams();

  // Random histories of exactly `n` items (--history): the world's own sequences are 5-20 long.
  const longRng = new Rng(7);
  const randomHistory = (n: number) => Int32Array.from({ length: n }, () => longRng.int(world.itemIds.length));

  // SFT: one AdamW step on 64 sequences of 12 items (--history N: N+1 items).
  const opt = new AdamW(policy.params, { weightDecay: 0.01, gradClip: 1 });
  const windows = history ? Array.from({ length: 64 }, () => randomHistory(history + 1)) : splits.train.slice(0, 64).map((s) => s.slice(-12));
  const batch = buildSequences(layout, codes, windows);
  const sftMs = await time(async () => {
    const { value, grads } = tf.variableGrads(() => policy.sequenceLoss(batch, false, { rng }), [...policy.params.values()]);
    await opt.step(grads, 1e-3, value as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
  }, reps);
  const sftTokS = batch.realTokens / (sftMs / 1000);
  // ~6 FLOP per parameter per token (forward + backward), attention not counted.
  rows.push(['SFT step (64 seqs)', `${sftTokS.toFixed(0)} tokens/s`, `${((6 * paramCount * sftTokS) / 1e9 / peak * 100).toFixed(1)}% of peak`]);
  disposeSequences(batch);

  // Rollouts: G = 8 samples for 32 prompts.
  const examples = splits.valid.slice(0, 32);
  const histories = (ex: { history: Int32Array }[]) => ex.map((e) => (history ? randomHistory(history) : e.history));
  const prompt = buildPrompts(layout, codes, histories(examples), config.policy.maxHistory);
  const decoder = policyDecoder(policy);
  const rollMs = await time(() => sample(decoder, prompt, { samples: 8, temperature: 1, rng }), reps);
  rows.push(['rollouts (32 x 8)', `${((32 * 8) / (rollMs / 1000)).toFixed(0)} rollouts/s`, '']);
  disposePrompts(prompt);

  // Eval: beam 20 over 256 users.
  const evalEx = splits.test.slice(0, 256);
  const evalPrompt = buildPrompts(layout, codes, histories(evalEx), config.policy.maxHistory);
  const evalMs = await time(() => beamSearch(decoder, evalPrompt, { beam: 20 }), quick ? 2 : 3, 1);
  rows.push(['eval beam 20 (256 users)', `${(256 / (evalMs / 1000)).toFixed(0)} users/s`, '']);
  disposePrompts(evalPrompt);

  // One whole RL step (rollouts, ranker, gate, update) at B = 32, G = 8.
  const ref = Policy.create(config.policy, layout, new Rng(1));
  const ranker = Ranker.create(world.itemIds.length, rankerArch(config.ranker), rng, false);
  const rlOpt = new AdamW(policy.params, { weightDecay: 0, gradClip: 1 });
  const catalog = new Catalog({ levels: 3, codebookSizes: [64, 64, 64], codes });
  const pool = rlPromptPool(splits.train);
  const prompts = (): RlPrompt[] =>
    Array.from({ length: 32 }, () => {
      const { user, position } = pool[rng.int(pool.length)];
      return { user, history: splits.train[user].subarray(0, position), target: splits.train[user][position] };
    });
  const rlMs = await time(() => rlStep({ policy, ref, ranker, catalog, optimizer: rlOpt }, prompts(), { config, dataset: world, codes, rng, lr: 1e-4, randomP: 0.1, lambda: 1 }), quick ? 2 : 5, 1);
  rows.push(['RL step (32 x 8)', `${(1000 / rlMs).toFixed(2)} steps/s`, `${rlMs.toFixed(0)} ms/step`]);

  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  process.stdout.write(
    `backend ${backend.name} (${backend.package}${backend.threads !== null ? `, ${threadsLine(backend.threads)}` : ''}), tfjs ${backend.tfjsVersion}, node ${process.version}; policy ${paramCount} parameters` +
      `${history ? `; history ${history} items (${history * 3} prompt tokens)` : ''}\n` +
      rows.map(([n, v, x]) => `${n.padEnd(w0)}  ${v.padStart(w1)}  ${x}`).join('\n') +
      '\n',
  );
  for (const m of [policy, ref, ranker]) m.dispose();
  opt.dispose();
  rlOpt.dispose();
}

main().catch((e) => {
  if (e instanceof UserError) {
    process.stderr.write(`bench: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  }
});
