/**
 * `npm run gpu-bundle [-- --out DIR] [--node]`: the GPU check as one folder of at most 64 MiB
 * that runs on a machine with a GPU and no package registry (docs/PERFORMANCE.md):
 * an esbuild single-file build of src/bench/gpuCheck.ts, Dawn's linux-x64 addon (gzipped), the
 * wasm binaries, the Vulkan loader libvulkan.so.1 and run.sh. `--node` adds this machine's Node
 * binary (gzipped) for a machine that has none.
 */
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

const LIMIT = 64 * 1024 * 1024;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(root, 'package.json'));
const argv = process.argv.slice(2);
const outIdx = argv.indexOf('--out');
const out = path.resolve(outIdx >= 0 ? argv[outIdx + 1] : path.join(root, 'gpu-check'));

function fail(msg: string): never {
  process.stderr.write(`gpu-bundle: ${msg}\n`);
  process.exit(2);
}

/** The Vulkan loader: the system's libvulkan.so.1 (Debian: apt-get install libvulkan1). */
function vulkanLoader(): string {
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu']) {
    const f = path.join(dir, 'libvulkan.so.1');
    if (fs.existsSync(f)) return fs.realpathSync(f);
  }
  return fail('no libvulkan.so.1 on this machine to ship (Debian: apt-get install libvulkan1)');
}

async function main(): Promise<void> {
  if (process.platform !== 'linux' || process.arch !== 'x64') fail(`builds the linux-x64 bundle only; this is ${process.platform}-${process.arch}`);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(path.join(out, 'lib'), { recursive: true });

  await build({
    entryPoints: [path.join(root, 'src/bench/gpuCheck.ts')],
    outfile: path.join(out, 'adagrpo-gpu.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    // The native tfjs packages are optional and never in the bundle: auto is not used here.
    external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
    // CommonJS dependencies inside an ES module need require, __dirname and __filename.
    banner: {
      js: [
        "import { createRequire as __cr } from 'node:module';",
        "import { fileURLToPath as __fu } from 'node:url';",
        "import { dirname as __dn } from 'node:path';",
        'const require = __cr(import.meta.url);',
        'const __filename = __fu(import.meta.url);',
        'const __dirname = __dn(__filename);',
      ].join(' '),
    },
    plugins: [
      {
        name: 'dawn',
        setup(b) {
          // The `webgpu` package finds dawn.node relative to itself; the bundle loads it by path.
          b.onResolve({ filter: /^webgpu$/ }, () => ({ path: path.join(root, 'scripts/gpu-check/dawn.mjs') }));
        },
      },
    ],
  });

  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  for (const f of fs.readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmDir, f), path.join(out, f));
  const dawn = path.join(path.dirname(require.resolve('webgpu')), 'dist', 'linux-x64', 'dawn.node');
  if (!fs.existsSync(dawn)) fail(`${dawn} is missing: the optional dependency "webgpu" is not installed (npm ci)`);
  fs.writeFileSync(path.join(out, 'dawn.node.gz'), zlib.gzipSync(fs.readFileSync(dawn)));
  fs.copyFileSync(vulkanLoader(), path.join(out, 'lib', 'libvulkan.so.1'));
  fs.copyFileSync(path.join(root, 'scripts/gpu-check/run.sh'), path.join(out, 'run.sh'));
  fs.chmodSync(path.join(out, 'run.sh'), 0o755);
  if (argv.includes('--node')) fs.writeFileSync(path.join(out, 'node.gz'), zlib.gzipSync(fs.readFileSync(process.execPath)));

  let total = 0;
  const lines: string[] = [];
  for (const e of fs.readdirSync(out, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const f = path.join(e.parentPath, e.name);
    const size = fs.statSync(f).size;
    total += size;
    lines.push(`  ${path.relative(out, f).padEnd(40)} ${(size / 2 ** 20).toFixed(1).padStart(6)} MiB`);
  }
  process.stdout.write(`${lines.join('\n')}\nwrote ${path.relative(process.cwd(), out) || '.'}: ${(total / 2 ** 20).toFixed(1)} MiB (limit 64 MiB); run it with: bash ${path.relative(process.cwd(), out) || '.'}/run.sh [N]\n`);
  if (total > LIMIT) fail(`the bundle is ${(total / 2 ** 20).toFixed(1)} MiB, over the 64 MiB limit`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
