/**
 * The source layers of docs/METHOD.md 5 only point down: base < data < model < rl < runs < eval <
 * train < experiments < cli. This reads every import of src/ and fails on one that points up.
 * The same check from a shell: grep -rn "from '\.\./cli\|from '\.\./train" src/eval src/runs src/model src/rl src/data
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAYERS = ['data', 'model', 'rl', 'runs', 'eval', 'train', 'experiments'];
const TOP = ['cli', 'bench', 'scripts'];

/** 0 for the base (config, io, errors, rng, ... directly under src/), then the layers in order, the entry points last. */
function layerOf(rel: string): number {
  const top = rel.split('/')[1];
  if (TOP.includes(top)) return LAYERS.length + 1;
  const i = LAYERS.indexOf(top);
  return i >= 0 ? i + 1 : 0;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('no module imports from a layer above its own', () => {
  const upward: string[] = [];
  for (const file of sources(path.join(ROOT, 'src'))) {
    const rel = path.relative(ROOT, file);
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = path.relative(ROOT, path.resolve(path.dirname(file), m[1]));
      if (layerOf(target) > layerOf(rel)) upward.push(`${rel} -> ${target}`);
    }
  }
  assert.deepEqual(upward, []);
});

test('no comment or doc points outside the repository', () => {
  const outside: string[] = [];
  const docs = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  for (const rel of [...sources(path.join(ROOT, 'src')).map((f) => path.relative(ROOT, f)), ...docs]) {
    const text = fs.readFileSync(path.join(ROOT, rel), 'utf8');
    if (/\.\.\/shared\/DESIGN|\bDESIGN [0-9]/.test(text)) outside.push(rel);
  }
  assert.deepEqual(outside, []);
});
