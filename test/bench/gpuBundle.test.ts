/**
 * The GPU check bundle (`npm run gpu-bundle`) builds within its 64 MiB and runs from a folder
 * outside the repository, with no node_modules, on whatever Vulkan driver the machine has
 * (lavapipe in CI, which .ci/run installs). It also writes the NVIDIA ICD file when the driver
 * ships none: here a stand-in `ldconfig` names lavapipe's library as libGLX_nvidia.so.0, so the
 * adapter can only be found through the file run.sh wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir, writeFile } from '../helpers/tmp.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const LAVAPIPE = '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so';

test('the GPU check bundle builds under 64 MiB and runs the bench and SFT steps from its own folder', { timeout: 300_000 }, () => {
  const dir = tmpDir('adagrpo-gpu-');
  const out = path.join(dir, 'bundle');
  const b = spawnSync(process.execPath, [path.join(ROOT, 'dist/scripts/gpuBundle.js'), '--out', out], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /MiB \(limit 64 MiB\)/);
  for (const f of ['adagrpo-gpu.mjs', 'dawn.node.gz', 'run.sh', 'lib/libvulkan.so.1', 'tfjs-backend-wasm.wasm']) assert.ok(fs.existsSync(path.join(out, f)), f);

  // A stand-in ldconfig that reports lavapipe as the NVIDIA GLX library, and no ICD override.
  assert.ok(fs.existsSync(LAVAPIPE), `${LAVAPIPE} missing: install lavapipe as .ci/run does`);
  const bin = path.join(dir, 'bin');
  writeFile(bin, 'ldconfig', `#!/bin/sh\necho "\tlibGLX_nvidia.so.0 (libc6,x86-64) => ${LAVAPIPE}"\n`);
  fs.chmodSync(path.join(bin, 'ldconfig'), 0o755);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin`, SHAPES: 'tiny', ITERS: '1' };
  delete env.VK_ICD_FILENAMES;
  const r = spawnSync('bash', [path.join(out, 'run.sh'), '2'], { cwd: dir, encoding: 'utf8', env, timeout: 280_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`wrote one for ${LAVAPIPE}`));
  assert.match(r.stdout, /adapter: .*llvmpipe/);
  assert.match(r.stdout, /\| SFT step \| tokens\/s \| [\d,]+ \| [\d,]+ \| [\d.]+ \|/);
  assert.match(r.stdout, /webgpu SFT: 2 steps in/);
});
