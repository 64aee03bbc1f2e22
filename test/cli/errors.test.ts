/**
 * Issue 2's user errors, through the real CLI: each exits 2 with one message naming the file and
 * the line or the key, and writes nothing into runs/ or data/processed/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, listFiles, runCli } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

function expectUserError(cwd: string, args: string[], patterns: RegExp[]): void {
  const r = runCli(args, cwd);
  assert.equal(r.code, 2, `exit code ${r.code}; stderr:\n${r.stderr}`);
  for (const p of patterns) assert.match(r.stderr, p);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'a user error must not print a stack');
  assert.deepEqual(listFiles(path.join(cwd, 'runs')), []);
  assert.deepEqual(listFiles(path.join(cwd, 'data', 'processed')), []);
}

const csvConfig = (csvPath: string) => `name: t\ndata:\n  source: csv\n  kcore: 0\n  csv:\n    path: ${csvPath}\n`;

test('malformed YAML: file and line', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'bad.yaml', 'name: x\ndata:\n  source: [csv\n  kcore: 2\n');
  expectUserError(cwd, ['data', 'prepare', '--config', 'bad.yaml'], [/malformed YAML in bad\.yaml/, /bad\.yaml:\d+:\d+/]);
});

test('unknown key and out-of-range value: both reported, with dot path and line', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'c.yaml', 'name: x\ndata:\n  kcorr: 3\nsid:\n  levels: 99\n');
  expectUserError(cwd, ['train', '--config', 'c.yaml'], [/data\.kcorr: unknown key \(c\.yaml:3\)/, /sid\.levels: .*<=8 \(c\.yaml:5\)/]);
});

test('missing data file', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'c.yaml', csvConfig('nope.csv'));
  expectUserError(cwd, ['data', 'prepare', '--config', 'c.yaml'], [/nope\.csv/]);
});

test('empty data file', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'empty.csv', '');
  writeFile(cwd, 'c.yaml', csvConfig('empty.csv'));
  expectUserError(cwd, ['data', 'prepare', '--config', 'c.yaml'], [/empty\.csv/, /empty/i]);
});

test('CSV without a required column names the column', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'log.csv', 'user,item\nu1,a\n');
  writeFile(cwd, 'c.yaml', csvConfig('log.csv'));
  expectUserError(cwd, ['data', 'prepare', '--config', 'c.yaml'], [/log\.csv/, /timestamp/]);
});

test('CSV row with a non-numeric timestamp names file, line and column', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'log.csv', 'user,item,timestamp\nu1,a,1\nu1,b,2\nu1,c,yesterday\n');
  writeFile(cwd, 'c.yaml', csvConfig('log.csv'));
  expectUserError(cwd, ['data', 'prepare', '--config', 'c.yaml'], [/log\.csv:4/, /timestamp/, /yesterday/]);
});

test('an unknown flag is a usage error (exit 2), and --help exits 0 for every command', () => {
  const cwd = tmpDir();
  const r = runCli(['train', '--confg', 'x.yaml'], cwd);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option '--confg'/);
  for (const args of [[], ['train'], ['eval'], ['stratify'], ['data'], ['data', 'prepare'], ['data', 'inspect']]) {
    const h = runCli([...args, '--help'], cwd);
    assert.equal(h.code, 0, `${args.join(' ')} --help: ${h.stderr}`);
    assert.match(h.stdout, /Usage: adagrpo/);
  }
});

test('a run folder is never overwritten: a second train with the same name and seed exits 2 and points to --resume', () => {
  const cwd = tmpDir();
  fs.mkdirSync(path.join(cwd, 'runs', 'dup_s1'), { recursive: true });
  const r = runCli(['train', '--set', 'name=dup', '--until', 'data'], cwd);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /runs\/dup_s1 already exists.*--resume/);
});

test('--dry-run prints the resolved config and writes nothing', () => {
  const cwd = tmpDir();
  const r = runCli(['train', '--set', 'rl.lambda=0.3', '--set', 'name=dry', '--dry-run'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lambda: 0\.3/);
  assert.match(r.stdout, /name: dry/);
  assert.deepEqual(listFiles(cwd), []);
});

test('a reader that closes stdout early (adagrpo ... | head) ends the CLI quietly, not with a stack', async () => {
  const child = spawn(process.execPath, [BIN, 'stratify', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
});

test('a training pass that cannot fit the wasm heap is refused before training, with the estimate and the settings', () => {
  const cwd = tmpDir();
  // A newcomer's long sequences: 30 users x 200 items in a sequences-txt file (paths relative to the config).
  const lines = Array.from({ length: 30 }, (_, u) => `u${u} ${Array.from({ length: 200 }, (_, j) => `i${(u * 7 + j * 13) % 97}`).join(' ')}`);
  writeFile(cwd, 'data/seq.txt', lines.join('\n') + '\n');
  writeFile(
    cwd,
    'data/long.yaml',
    'name: long\nbackend: wasm\ndata:\n  source: sequences-txt\n  kcore: 0\n  sequencesTxt: { path: seq.txt }\n' +
      'sid: { levels: 4, codebookSize: 4, embeddingDim: 8 }\npolicy: { layers: 4, dim: 64, heads: 8, maxHistory: 200 }\nsft: { batchSize: 30 }\n',
  );
  const r = runCli(['train', '--config', 'data/long.yaml', '--no-progress'], cwd);
  assert.equal(r.code, 2, r.stderr);
  // 198 training items per user (leave-one-out) x 4 or 5 levels (a dedup level when tuples collide).
  assert.match(r.stderr, /adagrpo: error: sft: one pass of 30 rows x (792|990) tokens needs about \d+\.\d GiB of activations/);
  assert.match(r.stderr, /more than the wasm backend's 4\.0 GiB heap\. Lower sft\.microBatchSize, sft\.batchSize, policy\.maxHistory/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
  // Nothing was trained.
  assert.ok(!fs.existsSync(path.join(cwd, 'runs', '_stages')));
});
