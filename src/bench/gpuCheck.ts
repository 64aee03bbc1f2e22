/**
 * The GPU check: the entry of the self-contained bundle `npm run gpu-bundle` builds, for a GPU
 * machine without a package registry (docs/PERFORMANCE.md). It prints the WebGPU adapter, the
 * four reference workloads on webgpu and on wasm with their ratio, then N SFT steps on webgpu.
 *
 *   node adagrpo-gpu.mjs [--shapes beauty|tiny] [--iters I] [--steps N] [--wasm-dir DIR]
 *
 * Exit 3 when no WebGPU adapter starts (run.sh then prints what Vulkan drivers it can see).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adapterLine, initBackend, setWasmDir } from '../backend.js';
import { Rng } from '../rng.js';
import { AdamW } from '../train/optimizer.js';
import { SHAPES, benchPolicy, runWorkloads, sftBatch, sftStep, torchRefFlags, workloadTable } from './workloads.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function intArg(name: string, dflt: number): number {
  const v = arg(name);
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1; got "${v}"`);
  return n;
}

async function main(): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const shapesName = arg('--shapes') ?? 'beauty';
  const base = SHAPES[shapesName];
  if (!base) throw new Error(`--shapes must be one of ${Object.keys(SHAPES).join(', ')}`);
  const shapes = { ...base, iters: intArg('--iters', base.iters) };
  const steps = intArg('--steps', 50);
  setWasmDir(arg('--wasm-dir') ?? path.dirname(fileURLToPath(import.meta.url)));

  let gpu;
  try {
    gpu = await initBackend('webgpu', out);
  } catch (e) {
    out(`GPU check: no WebGPU backend: ${(e as Error).message}`);
    return 3;
  }
  out(`adapter: ${adapterLine(gpu.adapter!)}`);
  out(`adapter info: ${JSON.stringify(gpu.adapter)}`);
  out(`shapes ${shapesName} (torch_ref.py ${torchRefFlags(shapes)})`);
  const log = (l: string) => out(`  ${l}`);

  out('webgpu workloads:');
  const onGpu = await runWorkloads(shapes, log);
  const wasm = await initBackend('wasm', out);
  out('wasm workloads:');
  const onWasm = await runWorkloads(shapes, log);
  out(workloadTable(`webgpu`, onGpu, { label: wasm.name, figures: onWasm }));
  out(`matmul 1024^3: webgpu ${onGpu.matmul_gflops} GFLOP/s, wasm ${onWasm.matmul_gflops} GFLOP/s; SFT share of peak: webgpu ${(onGpu.sft_share_of_peak * 100).toFixed(1)}%, wasm ${(onWasm.sft_share_of_peak * 100).toFixed(1)}%`);

  // N SFT steps on webgpu at the same shapes, fresh windows every step.
  await initBackend('webgpu');
  const policy = benchPolicy(shapes, 1);
  const opt = new AdamW(policy.params, { weightDecay: 0.01, gradClip: 1 });
  const rng = new Rng(2);
  const losses: number[] = [];
  let t1 = 0;
  const t0 = performance.now();
  try {
    for (let s = 0; s < steps; s++) {
      const { codes, windows } = sftBatch(shapes, rng);
      losses.push(await sftStep(policy, opt, codes, windows));
      if (s === 0) t1 = performance.now(); // the first step compiles the shaders
      if ((s + 1) % 10 === 0 || s + 1 === steps) out(`  sft step ${s + 1}/${steps}: loss ${losses[s].toFixed(4)}`);
    }
  } finally {
    policy.dispose();
    opt.dispose();
  }
  const t2 = performance.now();
  const tokens = shapes.batch * shapes.items * shapes.levels;
  const perStep = steps > 1 ? (t2 - t1) / (steps - 1) : t2 - t0;
  out(`webgpu SFT: ${steps} steps in ${((t2 - t0) / 1000).toFixed(1)} s (first ${((t1 - t0) / 1000).toFixed(1)} s), ${perStep.toFixed(0)} ms/step after it, ${Math.round((tokens / perStep) * 1000)} tokens/s; loss ${losses[0].toFixed(4)} -> ${losses[losses.length - 1].toFixed(4)}`);
  out(JSON.stringify({ adapter: gpu.adapter, shapes, webgpu: onGpu, wasm: onWasm, sft: { steps, msPerStep: perStep, firstLoss: losses[0], lastLoss: losses[losses.length - 1] } }));
  return Number.isFinite(losses[losses.length - 1]) ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  },
);
