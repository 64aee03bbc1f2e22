/**
 * Backend selection and the one place that papers over missing kernels, so that model code
 * never asks which backend runs it.
 *
 * `auto` tries tfjs-node-gpu, tfjs-node, WebGPU on a hardware adapter, wasm, cpu in that order.
 * Packages are imported dynamically: tfjs-node-gpu, `webgpu` (Dawn for Node) and
 * tfjs-backend-webgpu are optionalDependencies (tfjs-node-gpu's libtensorflow download fails on
 * machines without network access), and tfjs-node is not a dependency at all (users may add it).
 *
 * WebGPU reads are asynchronous: `dataSync()` of a GPU-resident tensor throws under Node, so
 * model and training code read tensors with `await t.data()` (docs/PERFORMANCE.md).
 *
 * wasm runs XNNPACK on `threads` threads (config key `threads`, `--threads`): 1 is the
 * single-threaded SIMD build; more is the threaded-SIMD build, started under Node by
 * startWasmThreadsShim below (docs/PERFORMANCE.md, "wasm threads"); batched matMuls go to
 * XNNPACK slice by slice (registerSlicedBatchMatMul; "Batched matMuls on wasm"); and the slow
 * single-threaded kernels of an SFT step are loops over the wasm heap (registerHeapKernels;
 * "Kernels over the wasm heap").
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { UserError } from './errors.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** What the WebGPU adapter says about itself (GPUAdapterInfo), and whether it is a CPU emulation. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasteriser (lavapipe, llvmpipe, SwiftShader, a fallback adapter): correct but slow. */
  software: boolean;
}

export interface BackendInfo {
  /** tfjs backend name actually running: 'tensorflow' | 'webgpu' | 'wasm' | 'cpu'. */
  name: string;
  /** Package that provided it, e.g. '@tensorflow/tfjs-node-gpu'. */
  package: string;
  requested: BackendChoice;
  /** Why each earlier candidate was skipped, in the order tried. */
  skipped: { candidate: string; reason: string }[];
  /** The WebGPU adapter, when the backend is webgpu. */
  adapter: AdapterDescription | null;
  /** Things the user should know about the choice (e.g. a software adapter). */
  warnings: string[];
  tfjsVersion: string;
  /** XNNPACK threads of the wasm backend, as the backend reports them; null on other backends. */
  threads: number | null;
}

/**
 * Most wasm threads: the threaded build starts 8 workers up front (emscripten PTHREAD_POOL_SIZE)
 * and tfjs caps XNNPACK's pool at 8 (tfjs-backend-wasm src/cc/backend.cc, max_num_threads).
 */
export const MAX_WASM_THREADS = 8;

let current: BackendInfo | null = null;

/** The backend initBackend started in this process, or null before it ran. */
export function runningBackend(): BackendInfo | null {
  return current;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

function notInstalled(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

async function tryNode(pkg: string): Promise<string | null> {
  try {
    await import(pkg);
  } catch (e) {
    return notInstalled(e) ? 'not installed' : firstLine(e);
  }
  return (await tf.setBackend('tensorflow')) ? null : 'tf.setBackend("tensorflow") failed';
}

let wasmDir: string | null = null;

/** Where the wasm binaries are, for a bundled CLI without node_modules (the GPU check bundle). */
export function setWasmDir(dir: string): void {
  wasmDir = dir;
}

async function tryWasm(threads: number): Promise<string | null> {
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasm = await import('@tensorflow/tfjs-backend-wasm');
    // Under Node the wasm binaries are read from disk next to the package's dist/.
    const dir = wasmDir ?? path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(dir + path.sep);
    wasm.setThreadsCount(threads);
    // tfjs reports no thread support under Node (its flag returns false for IS_NODE): 1 thread
    // keeps the single-threaded SIMD build, more selects the threaded-SIMD one.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
  } catch (e) {
    return firstLine(e);
  }
  let reason: string | null;
  if (threads === 1) reason = await activate('wasm', installWasmKernels);
  else {
    const restore = startWasmThreadsShim(threads);
    try {
      reason = await activate('wasm', installWasmKernels);
    } finally {
      restore();
    }
  }
  if (reason !== null) return reason;
  if (threads > 1) {
    // emscripten refs the worker of each running pthread, and XNNPACK's pool threads never end:
    // without this the process would never exit. They only compute while the main thread waits
    // inside a wasm call, so nothing is lost when the event loop empties.
    const module = (tf.findBackend('wasm') as unknown as { wasm: { PThread?: { runningWorkers: { unref(): void }[] } } }).wasm;
    for (const w of module.PThread?.runningWorkers ?? []) w.unref();
  }
  const actual = wasm.getThreadsCount();
  if (actual !== threads) return `XNNPACK started ${actual} thread(s), not the ${threads} asked for`;
  return null;
}

/**
 * What tfjs 4.22's threaded wasm build needs under Node, in place while the backend starts (call
 * the returned function to undo it). tfjs hands emscripten two Blob URLs: the pthread worker
 * script (locateFile) and the main script each worker imports (mainScriptUrlOrBlob); Node's
 * worker_threads cannot load either. Here:
 * - `Blob` is a stand-in that keeps its text, and URL.createObjectURL writes that text to a file
 *   in a temporary folder (removed at exit) and returns the path, which Node's Worker loads. The
 *   worker script is emscripten's own, which has a Node code path; around it go (before) the
 *   free variables of the rollup bundle that the main script's text refers to (require$$0..4,
 *   commonjsGlobal, tslib helpers) and (after) a hook that swaps the main script's stand-in
 *   Blob, which reaches the worker as a plain object, for its file path.
 * - os.cpus() reports 2 x threads CPUs: tfjs caps the pool at emscripten_num_logical_cores() / 2
 *   (it assumes 2 hyperthreads per core), which under Node is os.cpus().length / 2 = 1 on a
 *   2-core machine, whatever setThreadsCount asked.
 */
function startWasmThreadsShim(threads: number): () => void {
  const g = globalThis as unknown as { Blob: unknown };
  const nodeOs = createRequire(import.meta.url)('node:os') as typeof os; // the object the bundle's require('os') returns
  const realBlob = g.Blob;
  const realCreate = URL.createObjectURL.bind(URL);
  const realCpus = nodeOs.cpus;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'adagrpo-wasm-threads-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const mainScript = path.join(dir, 'tfjs-backend-wasm-threaded-simd.js');
  const workerScript = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.cjs');
  class TextBlob {
    text: string | null;
    path: string | null = null;
    constructor(parts: unknown[]) {
      this.text = parts.map(String).join('');
      if (this.text.startsWith('var WasmBackendModuleThreadedSimd')) {
        fs.writeFileSync(mainScript, this.text);
        this.path = mainScript; // what the worker's hook imports
        this.text = null;
      }
    }
  }
  g.Blob = TextBlob;
  URL.createObjectURL = (obj: unknown): string => {
    if (!(obj instanceof TextBlob)) return realCreate(obj as Blob);
    if (obj.path !== null) return obj.path;
    if (!fs.existsSync(workerScript)) fs.writeFileSync(workerScript, WORKER_PRELUDE + obj.text + WORKER_HOOK);
    return workerScript;
  };
  const cpus = realCpus();
  nodeOs.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cpus[i % Math.max(1, cpus.length)]);
  return () => {
    g.Blob = realBlob;
    URL.createObjectURL = realCreate;
    nodeOs.cpus = realCpus;
  };
}

/** Globals the main script's text (a function cut out of tf-backend-wasm.node.js) refers to. */
const WORKER_PRELUDE = `"use strict";
Object.assign(globalThis, {
  require$$0: require('fs'), require$$1: require('path'), require$$3: require('perf_hooks'), require$$4: require('os'),
  commonjsGlobal: globalThis, _scriptDir: undefined,
  __values: (o) => o[Symbol.iterator](),
  __read: (o, n) => { const a = []; const it = o[Symbol.iterator](); for (let r; (n === undefined || a.length < n) && !(r = it.next()).done;) a.push(r.value); return a; },
  __spreadArray: (to, from) => to.concat(Array.prototype.slice.call(from)),
});
`;

/** After emscripten's worker script: the main script arrives as a stand-in Blob; load its file. */
const WORKER_HOOK = `
;{ const onmessage0 = self.onmessage;
  self.onmessage = (e) => {
    const u = e.data && e.data.cmd === 'load' ? e.data.urlOrBlob : null;
    if (u && typeof u === 'object' && typeof u.path === 'string') e.data.urlOrBlob = u.path;
    return onmessage0(e);
  };
}
`;

/** Switch tfjs to a registered backend and patch it; the reason it failed, or null. */
async function activate(name: string, install: () => void): Promise<string | null> {
  try {
    if (!(await tf.setBackend(name))) return `tf.setBackend("${name}") failed`;
    await tf.ready();
  } catch (e) {
    return firstLine(e);
  }
  install();
  return null;
}

/** Names that identify a CPU implementation of Vulkan/WebGPU in GPUAdapterInfo. */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe|software|cpu/i;

/** Describe a GPUAdapter from its `info` (every field may be empty on some drivers). */
export function describeAdapter(info: Partial<Record<keyof Omit<AdapterDescription, 'software'>, string>> & { isFallbackAdapter?: boolean }): AdapterDescription {
  const d = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
  };
  const software = info.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(Object.values(d).join(' '));
  return { ...d, software };
}

/** One line for logs: "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) [mesa software], software". */
export function adapterLine(a: AdapterDescription): string {
  const names = [a.vendor, a.architecture].filter((s) => s).join(' ');
  const name = a.description || a.device || names || 'unnamed adapter';
  return `${name}${names && name !== names ? ` [${names}]` : ''}, ${a.software ? 'software' : 'hardware'}`;
}

let webgpuAdapter: AdapterDescription | null = null;

/**
 * Dawn for Node (`webgpu` package) provides navigator.gpu; tfjs-backend-webgpu then registers
 * the 'webgpu' backend. `requireHardware` (auto) refuses a software adapter: lavapipe runs
 * ~1 GFLOP/s, far below wasm. Returns the reason it cannot be used, or null.
 */
async function tryWebgpu(requireHardware: boolean): Promise<string | null> {
  if (!webgpuAdapter) {
    let dawn: { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
    try {
      dawn = (await import('webgpu')) as unknown as typeof dawn;
    } catch (e) {
      return notInstalled(e) ? 'not installed (optional dependency "webgpu"; npm install webgpu)' : `"webgpu" failed to load: ${firstLine(e)}`;
    }
    const g = globalThis as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v;
    const gpu = dawn.create([]);
    const nav = g.navigator as Record<string, unknown> | undefined;
    if (nav && typeof nav === 'object') Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    else Object.defineProperty(g, 'navigator', { value: { gpu, userAgent: `Node.js/${process.version}` }, configurable: true, writable: true });
    let adapter: { info: Record<string, string> & { isFallbackAdapter?: boolean } } | null;
    try {
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch (e) {
      return `no WebGPU adapter: ${firstLine(e)}`;
    }
    if (!adapter) return 'no WebGPU adapter (no Vulkan driver found: install the GPU vendor\'s Vulkan driver, or mesa-vulkan-drivers >= 25 for the software one)';
    // The package registers its backend at import only when navigator.gpu exists: import it now.
    try {
      await import('@tensorflow/tfjs-backend-webgpu');
    } catch (e) {
      return notInstalled(e)
        ? 'not installed (optional dependency "@tensorflow/tfjs-backend-webgpu")'
        : `@tensorflow/tfjs-backend-webgpu failed to load: ${firstLine(e)}`;
    }
    webgpuAdapter = describeAdapter(adapter.info);
  }
  if (requireHardware && webgpuAdapter.software) {
    return `only a software adapter (${adapterLine(webgpuAdapter)}), slower than wasm; --backend webgpu uses it anyway`;
  }
  return activate('webgpu', installWebgpuKernels);
}

interface GpuLike {
  requestAdapter(o?: { powerPreference?: string }): Promise<{ info: Record<string, string> & { isFallbackAdapter?: boolean } } | null>;
}

/**
 * Select and initialise a backend. Idempotent for the same choice: tests and the CLI may call it
 * repeatedly. Tensors do not move between backends here: switch only with none alive (a
 * webgpu tensor cannot be read synchronously, which a move would need).
 *
 * `threads`: XNNPACK threads of the wasm backend (1 to MAX_WASM_THREADS; other backends ignore
 * it). The wasm module starts once per process, so a later call cannot change its count.
 */
export async function initBackend(requested: BackendChoice = 'auto', log: (line: string) => void = () => {}, threads = 1): Promise<BackendInfo> {
  parseThreads(threads);
  if (current && (current.requested === requested || requested === 'auto' || current.name === requested)) {
    if (current.name === 'wasm' && current.threads !== threads) {
      throw new Error(`the wasm backend already runs ${current.threads} thread(s) in this process; it cannot restart with ${threads}`);
    }
    if (tf.getBackend() !== current.name) await tf.setBackend(current.name);
    return current;
  }
  const candidates: { candidate: string; pkg: string; run: () => Promise<string | null> }[] = [];
  if (requested === 'auto' || requested === 'tensorflow') {
    candidates.push({ candidate: 'tensorflow (GPU)', pkg: '@tensorflow/tfjs-node-gpu', run: () => tryNode('@tensorflow/tfjs-node-gpu') });
    candidates.push({ candidate: 'tensorflow (CPU)', pkg: '@tensorflow/tfjs-node', run: () => tryNode('@tensorflow/tfjs-node') });
  }
  if (requested === 'auto' || requested === 'webgpu') {
    candidates.push({ candidate: 'webgpu', pkg: '@tensorflow/tfjs-backend-webgpu', run: () => tryWebgpu(requested === 'auto') });
  }
  if (requested === 'auto' || requested === 'wasm') candidates.push({ candidate: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm', run: () => tryWasm(threads) });
  if (requested === 'auto' || requested === 'cpu') {
    candidates.push({
      candidate: 'cpu',
      pkg: '@tensorflow/tfjs-backend-cpu',
      run: async () => ((await tf.setBackend('cpu')) ? null : 'tf.setBackend("cpu") failed'),
    });
  }
  const skipped: BackendInfo['skipped'] = [];
  for (const c of candidates) {
    const reason = await c.run();
    if (reason === null) {
      await tf.ready();
      const name = tf.getBackend();
      const adapter = name === 'webgpu' ? webgpuAdapter : null;
      const warnings: string[] = [];
      if (adapter?.software) {
        warnings.push(`webgpu runs on a software adapter (${adapter.description || adapter.device}): correct but slow (about 1 GFLOP/s); use it for checks, not for training`);
      }
      const ran = name === 'wasm' ? threads : null; // tryWasm checked the module's own count
      current = { name, package: c.pkg, requested, skipped, adapter, warnings, tfjsVersion: tf.version.tfjs, threads: ran };
      for (const s of skipped) log(`backend: skipped ${s.candidate}: ${s.reason}`);
      log(`backend: ${current.name} (${c.pkg})${adapter ? `, adapter: ${adapterLine(adapter)}` : ''}${ran !== null ? `, ${threadsLine(ran)}` : ''}`);
      for (const w of warnings) log(`warning: ${w}`);
      return current;
    }
    skipped.push({ candidate: c.candidate, reason });
  }
  throw new UserError(
    `backend "${requested}" is not available: ${skipped.map((s) => `${s.candidate}: ${s.reason}`).join('; ')}. ` +
      `Use --backend auto to fall back to the next working one.`,
  );
}

let webgpuKernelsInstalled = false;

/** The WebGPU device's first uncaptured error, raised at the next read-back. */
let webgpuError: string | null = null;

/**
 * Two things the webgpu backend (tfjs 4.22) gets wrong for this project, fixed here once:
 * - WebGPU reports invalid work (a pipeline over a device limit, an out-of-memory) through an
 *   event, never an exception: tfjs ignores it and the read-back returns zeros. Every read goes
 *   through the backend's `read`, so the first such error is raised there, as a bug (exit 1).
 * - AddN binds one storage buffer per input, and the default device allows 8 per shader stage:
 *   the gradient norm over 20+ parameter tensors fails. Sums of more inputs are split into
 *   chunks that fit (the order of additions changes, so the result differs in the last bits).
 */
function installWebgpuKernels(): void {
  if (webgpuKernelsInstalled) return;
  webgpuKernelsInstalled = true;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const backend = tf.findBackend('webgpu') as any;
  const device = backend.device as { limits: { maxStorageBuffersPerShaderStage: number }; onuncapturederror: unknown };
  device.onuncapturederror = (ev: { error: { message: string } }) => {
    webgpuError ??= ev.error.message;
  };
  const read = backend.read.bind(backend) as (dataId: object) => Promise<unknown>;
  backend.read = async (dataId: object) => {
    const values = await read(dataId);
    if (webgpuError !== null) throw new Error(`WebGPU device error (results since are invalid): ${webgpuError}`);
    return values;
  };

  const maxInputs = Math.max(2, device.limits.maxStorageBuffersPerShaderStage - 1); // one binding is the output
  replaceKernel(tf.AddN, 'webgpu', (addN) => (args) => {
    let inputs = args.inputs as unknown as tf.TensorInfo[];
    const made: tf.TensorInfo[] = [];
    while (inputs.length > maxInputs) {
      const next: tf.TensorInfo[] = [];
      for (let i = 0; i < inputs.length; i += maxInputs) {
        const chunk = inputs.slice(i, i + maxInputs);
        if (chunk.length === 1) next.push(chunk[0]);
        else {
          const part = addN.kernelFunc({ ...args, inputs: chunk as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
          made.push(part);
          next.push(part);
        }
      }
      inputs = next;
    }
    const out = addN.kernelFunc({ ...args, inputs: inputs as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
    for (const t of made) backend.disposeData(t.dataId);
    return out;
  });
}

/** Replace a backend's kernel by one made from the original (which it may call); nothing if there is none. */
function replaceKernel(kernelName: string, backendName: string, make: (original: tf.KernelConfig) => tf.KernelFunc): void {
  const original = tf.getKernel(kernelName, backendName);
  if (!original) return;
  tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, setupFunc: original.setupFunc, kernelFunc: make(original) });
}

let wasmKernelsInstalled = false;

/**
 * The wasm backend (tfjs 4.22) has no UnsortedSegmentSum kernel, which the gradient of gather
 * (embedding lookups) needs: it is a loop over the wasm heap here (inputs read where the module
 * keeps them, the output allocated by it: nothing copied). Its matMul with transpose flags is
 * 5-18x slower than a plain matMul of an explicitly transposed operand, while the built-in
 * BatchMatMul gradient uses those flags (registerExplicitTransposeMatMulGrad, which also turns a
 * 2-D weight gradient round when that lets XNNPACK pack the narrower operand: weightGrad). Fixed
 * here too, once: its slow GatherV2 (registerRowCopyGather), its scalar loop for batched matMuls
 * (registerSlicedBatchMatMul), and the copies and scalar loops that cost an SFT step ~0.6 s on
 * one thread (registerHeapKernels: Identity, Cast, Transpose, Sum, Slice; docs/PERFORMANCE.md,
 * "Kernels over the wasm heap"). All of these give tfjs's bits, except the sliced BatchMatMul
 * (within 1e-6 of the output's largest magnitude); each has a switch for tests
 * (setSlicedBatchMatMul, setHeapKernel, setNarrowPackedWeightGrad).
 */
function installWasmKernels(): void {
  if (wasmKernelsInstalled) return;
  wasmKernelsInstalled = true;
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum on wasm: float32 only, not ${x.dtype}`);
      const bk = backend as unknown as WasmBackendInternals;
      const n = segmentIds.shape[0];
      const inner = x.shape.slice(1).reduce((p, d) => p * d, 1);
      // Output first: allocating may grow the heap, which detaches views made before it.
      const res = bk.makeOutput([numSegments, ...x.shape.slice(1)], 'float32');
      const out = bk.typedArrayFromHeap(res) as Float32Array;
      const xv = bk.typedArrayFromHeap(x) as Float32Array;
      const ids = bk.typedArrayFromHeap(segmentIds) as Int32Array;
      out.fill(0);
      // Rows added in index order into float32 sums (ids outside [0, numSegments) dropped).
      for (let i = 0; i < n; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        const o = s * inner;
        const xi = i * inner;
        for (let j = 0; j < inner; j++) out[o + j] += xv[xi + j];
      }
      return res;
    },
  });
  registerExplicitTransposeMatMulGrad();
  registerRowCopyGather();
  registerSlicedBatchMatMul();
  registerHeapKernels();
}

/**
 * The wasm kernels this module replaces with JavaScript loops over the wasm heap
 * (registerHeapKernels): each reads its inputs where the module keeps them (a typed-array view at
 * the tensor's memory offset) and writes into an output the module allocated, so nothing is copied
 * in or out (Identity and same-dtype Cast copy nothing at all: the output shares the input's data
 * and shape, which MatMul's operator cache by tensor id requires). Each one's results are bit-identical to the tfjs kernel
 * it replaces (float32 sums in the same order, exact copies); test/backend/heapKernels.test.ts pins
 * that, kernel by kernel. GatherV2's is registerRowCopyGather.
 */
export const HEAP_KERNELS = ['Identity', 'Cast', 'Transpose', 'Sum', 'Slice', 'GatherV2'] as const;
export type HeapKernel = (typeof HEAP_KERNELS)[number];

/** Which heap kernels serve wasm (switches for tests and measurements); all on by default. */
const heapKernelOn: Record<HeapKernel, boolean> = { Identity: true, Cast: true, Transpose: true, Sum: true, Slice: true, GatherV2: true };

/**
 * Turn one of the wasm backend's heap kernels (registerHeapKernels) on or off; returns the
 * previous setting. Off, that kernel is tfjs's own again (GatherV2: tfjs's own too, not the
 * earlier row-copy version): tests compare the two.
 */
export function setHeapKernel(name: HeapKernel, on: boolean): boolean {
  const was = heapKernelOn[name];
  heapKernelOn[name] = on;
  return was;
}

/** The parts of tfjs-backend-wasm's BackendWasm (4.22) the heap kernels and the sliced BatchMatMul use. */
interface WasmBackendInternals {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  incRef(dataId: object): void;
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  dataIdNextNumber: number;
  wasm: {
    HEAPU8: Uint8Array;
    _malloc(n: number): number;
    _BatchMatMul(aId: number, aShape: number, aRank: number, bId: number, bShape: number, bRank: number, tA: number, tB: number, outId: number): void;
    tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
  };
}

/**
 * A permutation's shape and perm with size-1 axes dropped and axes that stay neighbours merged
 * (e.g. [B, N, H, D] with perm [0, 2, 1, 3] -> [B, N, H, D] with [0, 2, 1, 3]; [R, C] with [1, 0]
 * stays; [a, b, c] with [0, 1, 2] -> [abc] with [0]).
 */
export function canonicalPerm(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  // Size-1 axes dropped, the others renumbered in source order.
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const dims = kept.map((i) => shape[i]);
  const p1 = perm.filter((p) => shape[p] !== 1).map((p) => kept.indexOf(p));
  // Runs of consecutive source axes in output order become one axis.
  const runs: number[][] = [];
  for (const p of p1) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] + 1 === p) last.push(p);
    else runs.push([p]);
  }
  const order = runs.map((r) => r[0]).sort((a, b) => a - b);
  return {
    shape: order.map((first) => runs.find((r) => r[0] === first)!.reduce((s, p) => s * dims[p], 1)),
    perm: runs.map((r) => order.indexOf(r[0])),
  };
}

/**
 * out[j, i] = x[i, j] for x as [P, Q], in tiles of 64 x 64, each written one output row at a time
 * (measured at [10752, 128]: 2.2 ms against 3.4 for 32 x 32 tiles read one input row at a time).
 * `heap` is a view of the whole wasm heap; `xAt`, `outAt` are element offsets in it.
 */
function transpose2d(heap: Float32Array | Int32Array, xAt: number, outAt: number, P: number, Q: number): void {
  const T = 64;
  for (let j0 = 0; j0 < Q; j0 += T) {
    const j1 = Math.min(Q, j0 + T);
    for (let i0 = 0; i0 < P; i0 += T) {
      const i1 = Math.min(P, i0 + T);
      for (let j = j0; j < j1; j++) {
        const dst = outAt + j * P;
        for (let i = i0; i < i1; i++) heap[dst + i] = heap[xAt + i * Q + j];
      }
    }
  }
}

/**
 * Column sums of x as [R, C] into out[C]: each column summed in row order with float32 rounding
 * after every add (the order of tfjs's row sum of the transposed input, so the same bits). Eight
 * columns at a time in local variables, one pass over the rows each.
 */
function columnSums(xv: Float32Array, out: Float32Array, R: number, C: number): void {
  const f = Math.fround;
  const end = R * C;
  let c0 = 0;
  for (; c0 + 8 <= C; c0 += 8) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0; // prettier-ignore
    for (let i = c0; i < end; i += C) {
      s0 = f(s0 + xv[i]);
      s1 = f(s1 + xv[i + 1]);
      s2 = f(s2 + xv[i + 2]);
      s3 = f(s3 + xv[i + 3]);
      s4 = f(s4 + xv[i + 4]);
      s5 = f(s5 + xv[i + 5]);
      s6 = f(s6 + xv[i + 6]);
      s7 = f(s7 + xv[i + 7]);
    }
    out[c0] = s0;
    out[c0 + 1] = s1;
    out[c0 + 2] = s2;
    out[c0 + 3] = s3;
    out[c0 + 4] = s4;
    out[c0 + 5] = s5;
    out[c0 + 6] = s6;
    out[c0 + 7] = s7;
  }
  for (; c0 < C; c0++) {
    let s = 0;
    for (let i = c0; i < end; i += C) s = f(s + xv[i]);
    out[c0] = s;
  }
}

/** A view of the whole wasm heap of `t`'s type, and `t`'s element offset in it. */
function heapOf(bk: WasmBackendInternals, t: tf.TensorInfo): { heap: Float32Array | Int32Array; at: number } {
  const v = bk.typedArrayFromHeap(t);
  const heap = t.dtype === 'int32' ? new Int32Array(v.buffer) : new Float32Array(v.buffer);
  return { heap, at: v.byteOffset / 4 };
}

/**
 * The wasm backend's Identity and same-dtype Cast copy their input (tfjs-core clones every tensor
 * it saves for a gradient: ~290 copies per SFT step); tensors are immutable, so here the output
 * shares the input's data (a reference count, as the wasm Reshape and tfjs's cpu Identity do).
 * Transpose (tfjs: a scalar loop, slow on large 2-D operands: the weight gradients' [10752, 128]
 * -> [128, 10752]), Sum over leading axes (tfjs: a transpose, then a row sum: the bias
 * gradients) and Slice (tfjs: reads the whole input out of the heap first) run as loops over the
 * heap. Per SFT step at Beauty's shapes, 1 thread, tf.profile: these five kernels took 618 ms
 * before, 157 after (docs/PERFORMANCE.md, "Kernels over the wasm heap").
 */
function registerHeapKernels(): void {
  const share = (bk: WasmBackendInternals, x: tf.TensorInfo, dtype: tf.DataType): tf.TensorInfo => {
    bk.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype };
  };
  replaceKernel(tf.Identity, 'wasm', (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (!heapKernelOn.Identity || x.dtype === 'string') return original.kernelFunc(args);
    return share(args.backend as unknown as WasmBackendInternals, x, x.dtype);
  });
  replaceKernel(tf.Cast, 'wasm', (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
    if (!heapKernelOn.Cast || x.dtype !== dtype || x.dtype === 'string') return original.kernelFunc(args);
    return share(args.backend as unknown as WasmBackendInternals, x, dtype);
  });

  replaceKernel(tf.Transpose, 'wasm', (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (!heapKernelOn.Transpose || (x.dtype !== 'float32' && x.dtype !== 'int32')) return original.kernelFunc(args);
    // Handled: a swap of two blocks of axes, [P, Q] -> [Q, P] (e.g. [10752, 128] -> [128, 10752]
    // or [a, b, c] with perm [2, 0, 1]), P and Q at least 64. Measured (docs/PERFORMANCE.md): 2.5x
    // faster than tfjs's loop at [10752, 128], but 2.5x slower on batches of small swaps
    // ([512, 84, 84]) and no faster on moves of whole rows ([B, N, H, D] -> [B, H, N, D]), which
    // stay with tfjs.
    const c = canonicalPerm(x.shape, perm);
    const outShape = perm.map((p) => x.shape[p]);
    const bk = args.backend as unknown as WasmBackendInternals;
    // Not handled: a permutation that moves only size-1 axes (or none). Sharing the input's data
    // under the new shape would be correct for every kernel but MatMul: the module caches its
    // XNNPACK operator (the packed b) by tensor id, so a [1, N] b seen again as [N, 1] under the
    // same id reuses an operator packed for the other shape (wrong products, or an abort).
    if (c.perm.length <= 1) return original.kernelFunc(args);
    if (c.perm.length !== 2 || c.perm[0] !== 1) return original.kernelFunc(args);
    const [P, Q] = c.shape;
    if (P < 64 || Q < 64) return original.kernelFunc(args);
    const out = bk.makeOutput(outShape, x.dtype);
    const { heap, at: outAt } = heapOf(bk, out);
    transpose2d(heap, heapOf(bk, x).at, outAt, P, Q);
    return out;
  });

  replaceKernel(tf.Sum, 'wasm', (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    if (!heapKernelOn.Sum || x.dtype !== 'float32') return original.kernelFunc(args);
    const axes = tf.util.parseAxisParam(axis, x.shape);
    // Handled: the reduced axes are the leading ones, in increasing order (a bias's gradient:
    // [rows, C] -> [C]). tfjs sums in the order the axes are given ([1, 0]: another order, left to
    // it); the last-axis reductions it runs without a transpose stay with it too.
    if (axes.length === 0 || axes.length === x.shape.length || !axes.every((a, i) => a === i)) return original.kernelFunc(args);
    const R = x.shape.slice(0, axes.length).reduce((p, d) => p * d, 1);
    const C = x.shape.slice(axes.length).reduce((p, d) => p * d, 1);
    const shape = keepDims ? [...axes.map(() => 1), ...x.shape.slice(axes.length)] : x.shape.slice(axes.length);
    const bk = args.backend as unknown as WasmBackendInternals;
    const out = bk.makeOutput(shape, 'float32');
    if (R * C === 0) return out;
    columnSums(bk.typedArrayFromHeap(x) as Float32Array, bk.typedArrayFromHeap(out) as Float32Array, R, C);
    return out;
  });

  replaceKernel(tf.Slice, 'wasm', (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { begin, size } = args.attrs as unknown as { begin: number[]; size: number[] };
    if (!heapKernelOn.Slice || (x.dtype !== 'float32' && x.dtype !== 'int32')) return original.kernelFunc(args);
    const [b0, s0] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
    const bk = args.backend as unknown as WasmBackendInternals;
    const out = bk.makeOutput(s0, x.dtype);
    const n = tf.util.sizeFromShape(s0);
    if (n === 0) return out;
    const { heap, at: outAt } = heapOf(bk, out);
    const xAt = heapOf(bk, x).at;
    // The innermost axes taken whole form one contiguous chunk per index of the outer ones.
    const rank = x.shape.length;
    let k = rank; // axes k.. are taken whole
    while (k > 0 && s0[k - 1] === x.shape[k - 1]) k--;
    const inner = x.shape.slice(k).reduce((p, d) => p * d, 1);
    const strides = tf.util.computeStrides(x.shape);
    const chunk = k > 0 ? s0[k - 1] * inner : n; // axis k-1 is cut: its range is one chunk
    const outerRank = Math.max(0, k - 1);
    const idx = new Array<number>(outerRank).fill(0);
    for (let o = 0; o < n; o += chunk) {
      let src = k > 0 ? b0[k - 1] * inner : 0;
      for (let a = 0; a < outerRank; a++) src += (b0[a] + idx[a]) * strides[a];
      heap.copyWithin(outAt + o, xAt + src, xAt + src + chunk);
      for (let a = outerRank - 1; a >= 0; a--) {
        if (++idx[a] < s0[a]) break;
        idx[a] = 0;
      }
    }
    return out;
  });
}

/**
 * The wasm GatherV2 kernel (tfjs 4.22) costs ~250 ns per output element (a [5120, 64] embedding
 * lookup: ~80 ms), which made embedding lookups and beam reordering dominate decoding. Gather
 * without batch dims is a copy of contiguous rows, done here in JS (~100x faster) from the
 * input's place in the wasm heap into an output allocated there (no copies in or out: the
 * SFT step's four gathers took 54 ms before, 11-33 ms after in docs/PERFORMANCE.md's profiles); the original kernel still serves
 * batchDims > 0, dtypes other than float32/int32 and setHeapKernel('GatherV2', false).
 */
function registerRowCopyGather(): void {
  replaceKernel(tf.GatherV2, 'wasm', (original) => (args) => {
    const { inputs, backend, attrs } = args;
    const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
    if (!heapKernelOn.GatherV2 || (batchDims ?? 0) !== 0 || (x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') return original.kernelFunc(args);
    const bk = backend as unknown as WasmBackendInternals;
    const rank = x.shape.length;
    const ax = axis < 0 ? axis + rank : axis;
    const outer = x.shape.slice(0, ax).reduce((p, d) => p * d, 1);
    const dim = x.shape[ax];
    const inner = x.shape.slice(ax + 1).reduce((p, d) => p * d, 1);
    const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    const n = tf.util.sizeFromShape(indices.shape);
    {
      const ids = bk.typedArrayFromHeap(indices) as Int32Array;
      for (let i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= dim) throw new Error(`GatherV2: the index value ${ids[i]} is not in [0, ${dim - 1}]`);
      }
    }
    // Output first: allocating may grow the heap, which detaches views made before it.
    const res = bk.makeOutput(shape, x.dtype);
    if (n * outer * inner === 0) return res;
    const out = bk.typedArrayFromHeap(res) as Float32Array;
    const xv = bk.typedArrayFromHeap(x) as Float32Array;
    const ids = bk.typedArrayFromHeap(indices) as Int32Array;
    for (let o = 0; o < outer; o++) {
      const src = o * dim * inner;
      const dst = o * n * inner;
      if (inner === 1) {
        for (let i = 0; i < n; i++) out[dst + i] = xv[src + ids[i]];
      } else {
        for (let i = 0; i < n; i++) {
          const from = src + ids[i] * inner;
          const to = dst + i * inner;
          for (let j = 0; j < inner; j++) out[to + j] = xv[from + j];
        }
      }
    }
    return res;
  });
}

/**
 * Smallest rows per slice (M of [M, K] x [K, N]) that go through XNNPACK one slice at a time:
 * each slice packs its [K, N] operand into a new XNNPACK operator, a cost of K x N copies per
 * M x K x N multiply-adds, plus ~ a few microseconds per call. Below it the original kernel's
 * scalar loop wins (decoding's one-query slices, [B, H, 1, dh] x [B, H, dh, T]). Measured in
 * docs/PERFORMANCE.md, "Batched matMuls on wasm".
 */
export const SLICED_BATCH_MATMUL_MIN_ROWS = 8;

/** Whether the sliced BatchMatMul below serves wasm (a switch for tests and measurements). */
let slicedBatchMatMul = true;

/**
 * Turn the wasm backend's sliced BatchMatMul (registerSlicedBatchMatMul) on or off; returns the
 * previous setting. Off, every BatchMatMul goes to tfjs's own kernel: tests compare the two.
 */
export function setSlicedBatchMatMul(on: boolean): boolean {
  const was = slicedBatchMatMul;
  slicedBatchMatMul = on;
  return was;
}

/**
 * tfjs 4.22's wasm BatchMatMul uses XNNPACK only for a batch of 1 without transpose flags
 * (tfjs-backend-wasm/src/cc/batch_mat_mul_impl.cc, fused_batch_mat_mul); any larger batch goes
 * through `slow_batch_matmul`, a scalar, single-threaded blocked loop. The attention's batched
 * products ([B, H, N, dh] x [B, H, dh, N], [B, H, N, N] x [B, H, N, dh] and the same shapes in
 * their gradients, all without transpose flags: src/model/policy.ts transposes keys itself and
 * registerExplicitTransposeMatMulGrad makes the gradient's transposes explicit) took about a third
 * of an SFT step there (docs/PERFORMANCE.md, "wasm threads").
 *
 * Here a float32 batch without transpose flags whose two operands have the same batch dims runs
 * as one XNNPACK call per slice, on `threads` threads: the i-th [M, K], [K, N] and [M, N] slices
 * of a, b and the output are registered with the wasm module as tensors of their own (a tensor id
 * for a memory offset inside the operand's buffer: nothing is copied), the module's BatchMatMul
 * export is called on them with batch-1 shapes, which takes its XNNPACK path, and the three ids
 * are unregistered, which also deletes the XNNPACK operator the module cached on b's id (so
 * nothing accumulates across calls). When b has no batch (all its batch dims 1) the whole of a is
 * one [batch*M, K] slice. Anything else (transpose flags, broadcasting between batch dims, other
 * dtypes, M < SLICED_BATCH_MATMUL_MIN_ROWS, empty tensors) goes to the original kernel.
 *
 * XNNPACK adds each output's products in order, as the scalar loop does within its blocks of 48:
 * when the shared dimension is 48 or less the results are bit-identical, above it they differ in
 * the last bits (the loop adds per-block partial sums; test/backend/batchMatMul.test.ts pins the
 * tolerance).
 */
function registerSlicedBatchMatMul(): void {
  replaceKernel(tf.BatchMatMul, 'wasm', (original) => {
    /** Three tensor ids reserved once for the slice views, and 2 x 3 int32 for their shapes. */
    let views: { a: number; b: number; out: number; shapes: number } | null = null;
    return (args) => {
      const { inputs, backend, attrs } = args;
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (!slicedBatchMatMul || transposeA || transposeB || a.dtype !== 'float32' || b.dtype !== 'float32') return original.kernelFunc(args);
      const ra = a.shape.length;
      const rb = b.shape.length;
      if (ra < 2 || rb < 2) return original.kernelFunc(args);
      const [M, K] = a.shape.slice(ra - 2);
      const [K2, N] = b.shape.slice(rb - 2);
      const outerA = a.shape.slice(0, ra - 2);
      const outerB = b.shape.slice(0, rb - 2);
      const batchA = outerA.reduce((p, d) => p * d, 1);
      const batchB = outerB.reduce((p, d) => p * d, 1);
      if (K !== K2 || M * K * N === 0 || batchA < 2) return original.kernelFunc(args);
      let slices: number;
      let rows: number;
      if (batchB === 1 && outerB.length <= outerA.length) {
        slices = 1; // b is shared: a's rows are contiguous, one [batchA*M, K] x [K, N] product
        rows = batchA * M;
      } else if (outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]) && M >= SLICED_BATCH_MATMUL_MIN_ROWS) {
        slices = batchA;
        rows = M;
      } else {
        return original.kernelFunc(args);
      }
      const bk = backend as unknown as WasmBackendInternals;
      const wasm = bk.wasm;
      if (views === null) {
        // Ids from the backend's own counter, never handed out again; the 24 bytes live as long as
        // the module (the wasm backend starts once per process).
        views = { a: bk.dataIdNextNumber++, b: bk.dataIdNextNumber++, out: bk.dataIdNextNumber++, shapes: wasm._malloc(24) >>> 0 };
      }
      const outShape = [...(outerA.length >= outerB.length ? outerA : outerB), M, N];
      const out = bk.makeOutput(outShape, 'float32');
      const aOff = bk.dataIdMap.get(a.dataId).memoryOffset;
      const bOff = bk.dataIdMap.get(b.dataId).memoryOffset;
      const oOff = bk.dataIdMap.get(out.dataId).memoryOffset;
      // The module reads shapes as size_t (32-bit): [1, rows, K] and [1, K, N].
      new Int32Array(wasm.HEAPU8.buffer, views.shapes, 6).set([1, rows, K, 1, K, N]);
      const { a: ia, b: ib, out: io, shapes } = views;
      const t = wasm.tfjs;
      for (let s = 0; s < slices; s++) {
        t.registerTensor(ia, rows * K, aOff + 4 * s * rows * K);
        t.registerTensor(ib, K * N, bOff + 4 * s * K * N);
        t.registerTensor(io, rows * N, oOff + 4 * s * rows * N);
        wasm._BatchMatMul(ia, shapes, 3, ib, shapes + 12, 3, 0, 0, io);
        t.disposeData(ia);
        t.disposeData(ib);
        t.disposeData(io);
      }
      return out;
    };
  });
}

/** Whether the 2-D weight gradient takes the orientation below (a switch for tests and measurements). */
let narrowPackedWeightGrad = true;

/**
 * Turn the wasm weight gradient's choice of orientation (registerExplicitTransposeMatMulGrad) on
 * or off; returns the previous setting. Off, it is always t(a) x dy, as tfjs's own gradient.
 */
export function setNarrowPackedWeightGrad(on: boolean): boolean {
  const was = narrowPackedWeightGrad;
  narrowPackedWeightGrad = on;
  return was;
}

/**
 * For y = x [R, K] x w [K, N], w's gradient is t(x) [K, R] x dy [R, N]; tfjs's wasm kernel hands
 * its second operand (dy) to XNNPACK as the weights, which XNNPACK packs anew at every call (dy is
 * a new tensor each time). At Beauty's SFT shapes, x [10752, 128] and dy [10752, 512] (the MLP's
 * first layer), packing dy's 5.5M values made the product 2.6x slower than t(t(dy) x x), which
 * packs x's 1.4M values instead (measured alone, with the transposes: 112 -> 44 ms on 2 threads,
 * 176 -> 68 on 1). So on wasm a 2-D weight gradient is computed that way round when dy has more
 * columns than x: each element is the same sum in the same order (XNNPACK adds along the shared
 * dimension in order either way), so the same bits (test/backend/heapKernels.test.ts).
 */
function weightGrad(x: tf.Tensor, dy: tf.Tensor, t: (v: tf.Tensor) => tf.Tensor): tf.Tensor {
  const wider = x.rank === 2 && dy.rank === 2 && (dy.shape[1] as number) > (x.shape[1] as number);
  if (narrowPackedWeightGrad && wider && tf.getBackend() === 'wasm') return t(tf.matMul(t(dy), x));
  return tf.matMul(t(x), dy);
}

function registerExplicitTransposeMatMulGrad(): void {
  // Silence tfjs's "Overriding the gradient" warning for this deliberate override.
  const warn = console.warn;
  console.warn = () => {};
  try {
    tf.registerGradient({
      kernelName: tf.BatchMatMul,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved as tf.Tensor[];
        const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
        const dyT = dy as tf.Tensor;
        const t = (x: tf.Tensor) => {
          const r = x.rank;
          const perm = [...Array(r).keys()];
          perm[r - 2] = r - 1;
          perm[r - 1] = r - 2;
          return tf.transpose(x, perm);
        };
        // Same algebra as tfjs's own gradient, with every transpose made explicit.
        if (!transposeA && !transposeB) return { a: () => tf.matMul(dyT, t(b)), b: () => weightGrad(a, dyT, t) };
        if (!transposeA && transposeB) return { a: () => tf.matMul(dyT, b), b: () => tf.matMul(t(dyT), a) };
        if (transposeA && !transposeB) return { a: () => tf.matMul(b, t(dyT)), b: () => tf.matMul(a, dyT) };
        return { a: () => tf.matMul(t(b), t(dyT)), b: () => tf.matMul(t(dyT), t(a)) };
      },
    });
  } finally {
    console.warn = warn;
  }
}

/** "1 thread" / "2 threads": how logs and tables name a wasm thread count. */
export function threadsLine(n: number): string {
  return `${n} thread${n === 1 ? '' : 's'}`;
}

/** Check a `--threads` flag or `threads` config value: a whole number in [1, MAX_WASM_THREADS]. */
export function parseThreads(v: unknown): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new UserError(`--threads must be a whole number from 1 to ${MAX_WASM_THREADS}; got "${String(v)}"`);
  }
  return n;
}

/** Parse a `--backend` flag or config value. */
export function parseBackendChoice(v: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new UserError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}; got "${v}"`);
}
