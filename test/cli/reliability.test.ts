/**
 * Issue 16's failures, each pinned through the real CLI on tiny configs: results that silently came
 * from the wrong data, input that was decoded or counted wrongly, run folders left behind by a
 * failed `train`, faults a user can fix that printed a stack, and small message fixes. The
 * fault-injection suite (kills, damaged run files, a full disk) is test/cli/faults.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { listFiles, runCli, runCliInterrupted } from '../helpers/cli.js';
import { tmpDir, writeFile } from '../helpers/tmp.js';

/** A log of 40 users x 6 interactions over 30 items (i0..i29), deterministic, every item used. */
function logCsv(): string {
  const rows = ['user,item,timestamp'];
  let x = 7;
  for (let u = 0; u < 40; u++) {
    for (let t = 0; t < 6; t++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const item = u * 6 + t < 30 ? u * 6 + t : x % 30;
      rows.push(`u${u},i${item},${1000 + t}`);
    }
  }
  return rows.join('\n') + '\n';
}

/** Semantic IDs for i0..i29: two levels, each tuple unique. */
const INDEX = JSON.stringify(Object.fromEntries(Array.from({ length: 30 }, (_, k) => [`i${k}`, [`<a_${k % 8}>`, `<b_${Math.floor(k / 8)}>`]])));

const CSV_RUN = `name: a
backend: wasm
data: { source: csv, kcore: 0, csv: { path: log.csv } }
sid: { method: file, file: items.index.json }
policy: { layers: 1, dim: 16, heads: 2, maxHistory: 5 }
sft: { steps: 10, batchSize: 8, warmupSteps: 2 }
ranker: { steps: 10, batchSize: 16, dim: 8, hidden: 8, maxHistory: 5 }
rl: { steps: 2, batchSize: 4, numGenerations: 4 }
eval: { every: 10, beam: 10, ks: [1, 5, 10], maxUsers: 10, testMaxUsers: 10 }
`;

function csvWorld(): string {
  const cwd = tmpDir();
  writeFile(cwd, 'log.csv', logCsv());
  writeFile(cwd, 'items.index.json', INDEX);
  writeFile(cwd, 'run.yaml', CSV_RUN);
  return cwd;
}

function expectExit2(r: ReturnType<typeof runCli>, patterns: RegExp[]): void {
  assert.equal(r.code, 2, `exit code ${r.code}; stderr:\n${r.stderr}`);
  for (const p of patterns) assert.match(r.stderr, p);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'a user error must not print a stack');
}

const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));
/** `train` on run.yaml; `key=value` arguments become --set, flags pass as they are. */
const train = (cwd: string, ...args: string[]) =>
  runCli(['train', '--config', 'run.yaml', '--no-progress', ...args.flatMap((s) => (s.startsWith('--') ? [s] : ['--set', s]))], cwd);

test('eval, stratify and train --resume refuse a run whose data changed, naming both hashes; --compare refuses runs of different data even with equal configs', async () => {
  const cwd = csvWorld();
  assert.equal(train(cwd).code, 0);
  const a = path.join(cwd, 'runs', 'a_s1');
  const trainedOn = readJson(path.join(a, 'upstream.json')).data as string;
  const before = listFiles(path.join(a, 'eval')).map((f) => [f, fs.readFileSync(path.join(a, 'eval', f), 'utf8')]);
  // Run c is stopped by Ctrl-C as RL starts: it will be resumed after the data change.
  // (40 RL steps, so that the stop lands inside RL.)
  const c = await runCliInterrupted(['train', '--config', 'run.yaml', '--no-progress', '--set', 'name=c', '--set', 'rl.steps=40'], cwd, /rl: training in/);
  assert.equal(c.code, 130, c.stderr);

  // One interaction of one user now points at another item: the same config, other data.
  fs.writeFileSync(path.join(cwd, 'log.csv'), logCsv().replace('\nu3,i18,1000\n', '\nu3,i29,1000\n'));
  const ev = runCli(['eval', '--run', a, '--no-progress'], cwd);
  expectExit2(ev, [new RegExp(`eval: .*a_s1 was trained on other data .*data hash ${trainedOn} .*upstream\\.json, but the data files now hash to [0-9a-f]{8,}`), /Restore the input files/]);
  const now = /now hash to ([0-9a-f]+)/.exec(ev.stderr)![1];
  assert.notEqual(now, trainedOn);
  // The run's own test results are untouched and no new file was written.
  assert.deepEqual(listFiles(path.join(a, 'eval')).map((f) => [f, fs.readFileSync(path.join(a, 'eval', f), 'utf8')]), before);
  expectExit2(runCli(['stratify', '--run', a, '--no-progress'], cwd), [new RegExp(`stratify: .*data hash ${trainedOn}.* now hash to ${now}`)]);
  // A resumed run continues only on the data its checkpoints learned from.
  expectExit2(train(cwd, 'name=c', 'rl.steps=40', '--resume'), [new RegExp(`train --resume: .*c_s1 was trained on other data .*data hash ${trainedOn}.* now hash to ${now}`)]);
  assert.equal(readJson(path.join(cwd, 'runs', 'c_s1', 'upstream.json')).data, trainedOn);

  // Run b: the identical config (other name), trained on the new data. Its own data is current.
  assert.equal(train(cwd, 'name=b').code, 0);
  const b = path.join(cwd, 'runs', 'b_s1');
  assert.equal(readJson(path.join(b, 'upstream.json')).data, now);
  const ok = runCli(['eval', '--run', b, '--max-users', '5', '--no-progress'], cwd);
  assert.equal(ok.code, 0, ok.stderr);
  expectExit2(runCli(['stratify', '--run', b, '--compare', a, '--max-users', '5', '--no-progress'], cwd), [
    new RegExp(`stratify --compare: .*a_s1 was trained on other data .*data hash ${trainedOn}.* now hash to ${now}`),
  ]);
  assert.deepEqual(listFiles(path.join(b, 'stratify')), []);
});

test('a CSV with bytes that are not UTF-8 is refused, naming file:line (the bytes are never replaced)', () => {
  const cwd = csvWorld();
  const lines = logCsv().split('\n');
  lines[3] = 'u0,i\xff2,1002'; // line 4; written as latin1, so \xff is the single byte 0xff
  fs.writeFileSync(path.join(cwd, 'log.csv'), Buffer.from(lines.join('\n'), 'latin1'));
  expectExit2(runCli(['data', 'prepare', '--config', 'run.yaml'], cwd), [/log\.csv:4: byte 0xff is not valid UTF-8 \(byte offset \d+\)/, /iconv/]);
  assert.deepEqual(listFiles(path.join(cwd, 'data')), []);
  // A multi-byte character cut at the end of the file is refused too; valid UTF-8 (é) is read.
  fs.writeFileSync(path.join(cwd, 'log.csv'), Buffer.concat([Buffer.from(logCsv().replace('u0,', 'é0,')), Buffer.from([0xc3])]));
  expectExit2(runCli(['data', 'prepare', '--config', 'run.yaml'], cwd), [/log\.csv:242: the file ends inside a multi-byte UTF-8 character/]);
});

test('exact duplicate rows are dropped with a warning and counted by data inspect: the data equal the undoubled file', () => {
  const cwd = csvWorld();
  const clean = runCli(['data', 'inspect', '--config', 'run.yaml'], cwd);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /exact duplicates +0 rows dropped/);
  // Every row twice: kept, each user's validation target would equal its test target.
  const [header, ...rows] = logCsv().trim().split('\n');
  writeFile(cwd, 'doubled.csv', [header, ...rows.flatMap((r) => [r, r])].join('\n') + '\n');
  writeFile(cwd, 'doubled.yaml', CSV_RUN.replace('path: log.csv', 'path: doubled.csv'));
  const doubled = runCli(['data', 'inspect', '--config', 'doubled.yaml'], cwd);
  assert.equal(doubled.code, 0, doubled.stderr);
  assert.match(doubled.stderr, /warning: data: dropped 240 exact duplicate rows \(same user, item and timestamp\) of \S*doubled\.csv/);
  assert.match(doubled.stdout, /exact duplicates +240 rows dropped/);
  assert.match(doubled.stdout, /before filter +40 users, 30 items, 480 interactions/);
  const body = (s: string) => s.split('\n').filter((l) => !/Dataset|folder|exact duplicates|before filter/.test(l)).join('\n');
  assert.equal(body(doubled.stdout), body(clean.stdout));
});

test('data inspect stars no codebook-size candidate when the IDs come from sid.file, even one of the same size', () => {
  const cwd = csvWorld();
  // The file's IDs are 2 levels x 8; the K = 8 row is residual k-means over cf embeddings, not them.
  const r = runCli(['data', 'inspect', '--config', 'run.yaml', '--codebook-sizes', '4,8'], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /for comparison with the file's IDs above/);
  assert.match(r.stdout, /^ +8 {2}/m);
  assert.doesNotMatch(r.stdout, /^ +\d+ \*/m);
});

test('an unclosed CSV quote is reported on the line where it opens, not at the end of the file', () => {
  const cwd = csvWorld();
  const lines = logCsv().split('\n');
  lines[21] = 'u3,"i21,1003'; // line 22
  fs.writeFileSync(path.join(cwd, 'log.csv'), lines.join('\n'));
  expectExit2(runCli(['data', 'prepare', '--config', 'run.yaml'], cwd), [/log\.csv:22: malformed CSV: a quoted field opens on this line and is never closed/, /end of the file, line \d+/]);
});

test('train with bad data, a bad SID file or a damaged cache entry leaves no run folder; the same command works once fixed', () => {
  const cwd = csvWorld();
  const good = logCsv();
  const runs = path.join(cwd, 'runs');
  const runFolders = () => fs.readdirSync(runs).filter((d) => d !== '_stages');
  fs.mkdirSync(runs);

  fs.writeFileSync(path.join(cwd, 'log.csv'), good.replace('\nu2,i12,1000\n', '\nu2,i12,noon\n'));
  expectExit2(train(cwd), [/log\.csv:\d+: column "timestamp": "noon"/]);
  assert.deepEqual(runFolders(), []);
  fs.writeFileSync(path.join(cwd, 'log.csv'), good);

  fs.writeFileSync(path.join(cwd, 'items.index.json'), INDEX.slice(0, -20));
  expectExit2(train(cwd), [/items\.index\.json:\d+:\d+: invalid JSON/]);
  assert.deepEqual(runFolders(), []);
  fs.writeFileSync(path.join(cwd, 'items.index.json'), INDEX);
  const first = train(cwd);
  assert.equal(first.code, 0, first.stderr);

  // The cached SFT stage lost the checkpoint its best.json names: the next run that reuses it fails
  // at RL's start, and must not leave a folder that blocks the re-run.
  const sftDir = path.join(runs, '_stages', fs.readdirSync(path.join(runs, '_stages')).find((d) => d.startsWith('sft-'))!);
  const best = readJson(path.join(sftDir, 'best.json')).dir as string;
  fs.rmSync(path.join(sftDir, 'checkpoints', best), { recursive: true });
  expectExit2(train(cwd, 'name=b', 'rl.lr=2e-4'), [new RegExp(`${best}/state\\.json is missing`), /delete that stage folder/]);
  assert.deepEqual(runFolders(), ['a_s1']);
  fs.rmSync(sftDir, { recursive: true });
  const again = train(cwd, 'name=b', 'rl.lr=2e-4');
  assert.equal(again.code, 0, again.stderr);
  assert.equal(readJson(path.join(runs, 'b_s1', 'meta.json')).status, 'completed');
});

test('user errors, not stacks: runsDir a file, report --out an existing file, a corrupt config.yaml, a non-finite loss', () => {
  const cwd = csvWorld();
  writeFile(cwd, 'runsfile', 'not a folder\n');
  expectExit2(train(cwd, 'runsDir=runsfile'), [/runsDir runsfile is a file, not a folder.*--set runsDir=/]);
  assert.equal(fs.readFileSync(path.join(cwd, 'runsfile'), 'utf8'), 'not a folder\n');

  // SFT diverges at once: no checkpoint of it was saved, and the message must not claim one.
  const sft = train(cwd, 'sft.lr=1e30', 'name=nan');
  expectExit2(sft, [/sft: the loss is not finite at step \d+; stopped\. No checkpoint of this stage had been saved yet\. Lower the learning rate \(sft\.lr\)/]);
  // RL diverges after its step-0 checkpoint (the SFT policy): that one is named.
  const rl = train(cwd, 'rl.lr=1e30', 'name=nanrl');
  expectExit2(rl, [/rl: the loss is not finite at step [1-9]\d*; stopped\. The last good checkpoint \(step 0\) is kept/]);
  assert.equal(readJson(path.join(cwd, 'runs', 'nanrl_s1', 'meta.json')).status, 'failed');

  const run = path.join(cwd, 'runs', 'nanrl_s1');
  writeFile(cwd, 'report.md', 'mine\n');
  expectExit2(runCli(['report', run, '--out', 'report.md'], cwd), [/--out report\.md is an existing file; --out names a folder/]);
  assert.equal(fs.readFileSync(path.join(cwd, 'report.md'), 'utf8'), 'mine\n');

  fs.appendFileSync(path.join(run, 'config.yaml'), 'rl: [unclosed\n');
  expectExit2(runCli(['eval', '--run', run], cwd), [/nanrl_s1\/config\.yaml:\d+:\d+: malformed YAML in the run's config/]);
});

test('report over a run whose metrics.jsonl ends in a torn line warns and reports', () => {
  const cwd = tmpDir();
  writeFile(cwd, 'run.yaml', CSV_RUN);
  const src = csvWorld();
  for (const f of ['log.csv', 'items.index.json']) fs.copyFileSync(path.join(src, f), path.join(cwd, f));
  assert.equal(train(cwd).code, 0);
  const metrics = path.join(cwd, 'runs', 'a_s1', 'metrics.jsonl');
  const rows = fs.readFileSync(metrics, 'utf8').trim().split('\n').length;
  fs.appendFileSync(metrics, '{"stage":"rl","time":"2026-');
  const r = runCli(['report', path.join(cwd, 'runs', 'a_s1')], cwd);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`warning: .*metrics\\.jsonl:${rows + 1}: incomplete last line .*skipped`));
  assert.match(r.stdout, /hr@10/);
});

test('--set __proto__.x=1 (and constructor, prototype) is refused in one plain line', () => {
  const cwd = tmpDir();
  for (const set of ['__proto__.x=1', 'constructor.prototype.x=1', 'rl.prototype=2']) {
    const r = runCli(['train', '--set', set, '--dry-run'], cwd);
    expectExit2(r, [/is a reserved name, not a config key/]);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.deepEqual(listFiles(cwd), []);
});
