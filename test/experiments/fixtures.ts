/** Fake run folders for the report and sweep tests: the files a finished run leaves, no training. */
import fs from 'node:fs';
import path from 'node:path';
import { configToYaml, loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { runDirFor, type RunStatus } from '../../src/runs/run.js';

export interface FakeRun {
  runsDir: string;
  name: string;
  seed: number;
  sets?: string[];
  status?: RunStatus;
  /** Test metrics at best and final. */
  test?: { best?: Record<string, number>; final?: Record<string, number> };
  sft?: string;
  ranker?: string;
  /** metrics.jsonl rows of the rl stage. */
  rl?: Record<string, unknown>[];
}

export function fakeConfig(runsDir: string, name: string, seed: number, sets: string[] = []): Config {
  return loadConfig(undefined, { sets: [`name=${name}`, `seed=${seed}`, `runsDir=${runsDir}`, ...sets] });
}

export function writeFakeRun(r: FakeRun): string {
  const config = fakeConfig(r.runsDir, r.name, r.seed, r.sets);
  const dir = runDirFor(config);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.yaml'), configToYaml(config));
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ status: r.status ?? 'completed', sessions: [] }));
  for (const [stage, hash] of [['sft', r.sft ?? `sft${r.seed}`], ['ranker', r.ranker ?? `rk${r.seed}`]] as const) {
    fs.mkdirSync(path.join(dir, stage), { recursive: true });
    fs.writeFileSync(path.join(dir, stage, 'stage.json'), JSON.stringify({ stage, hash, dir: `../../_stages/${stage}-${hash}` }));
  }
  for (const [ck, metrics] of Object.entries(r.test ?? {})) {
    fs.mkdirSync(path.join(dir, 'eval'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'eval', `rl-${ck}-test.json`), JSON.stringify({ checkpoint: ck, split: 'test', metrics }));
  }
  if (r.rl) fs.writeFileSync(path.join(dir, 'metrics.jsonl'), r.rl.map((row) => JSON.stringify({ stage: 'rl', ...row })).join('\n') + '\n');
  return dir;
}
