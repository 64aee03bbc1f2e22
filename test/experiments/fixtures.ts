/** Fake run folders for the report and sweep tests: the files a finished run leaves, no training. */
import fs from 'node:fs';
import path from 'node:path';
import { configToYaml, loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { evalReportFile, writeEvalReport } from '../../src/runs/evalReport.js';
import { writeMeta } from '../../src/runs/meta.js';
import { runDirFor, type RunStatus } from '../../src/runs/run.js';
import { writeUpstream } from '../../src/runs/upstream.js';

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
  /**
   * 'sasrec': a baseline run (sasrec/ folder, eval/sasrec-*-test.json, no sft/ranker stages).
   * 'sft': a policy run stopped after SFT (train --until sft): an sft stage only, eval/sft-*-test.json,
   * and its test rows in metrics.jsonl as train logs them.
   */
  stage?: 'rl' | 'sft' | 'sasrec';
  /** metrics.jsonl rows of an sft or sasrec run's own stage (rows without a kind are 'train'). */
  rows?: Record<string, unknown>[];
  /** In the test reports: the number of test users (default 1) and the most-popular figures (default none). */
  users?: number;
  /** In the test reports: how the users were chosen (default: absent, every user or the first N). */
  userSample?: 'spread' | 'first';
  popular?: Record<string, number>;
  /** upstream.json's data hash (none written by default). */
  data?: string;
}

export function fakeConfig(runsDir: string, name: string, seed: number, sets: string[] = []): Config {
  return loadConfig(undefined, { sets: [`name=${name}`, `seed=${seed}`, `runsDir=${runsDir}`, ...sets] });
}

export function writeFakeRun(r: FakeRun): string {
  const config = fakeConfig(r.runsDir, r.name, r.seed, r.sets);
  const dir = runDirFor(config);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.yaml'), configToYaml(config));
  const at = '2026-01-01T00:00:00.000Z';
  writeMeta(dir, {
    argv: [],
    git: { commit: null, dirty: null },
    versions: { adagrpo: 'test', tfjs: 'test', node: 'test' },
    backend: null,
    startedAt: at,
    endedAt: at,
    status: r.status ?? 'completed',
    error: null,
    sessions: [],
  });
  const stage = r.stage ?? 'rl';
  if (stage === 'sasrec') fs.mkdirSync(path.join(dir, 'sasrec'), { recursive: true });
  else {
    const stages = [['sft', r.sft ?? `sft${r.seed}`], ['ranker', r.ranker ?? `rk${r.seed}`]] as const;
    for (const [shared, hash] of stage === 'sft' ? stages.slice(0, 1) : stages) {
      fs.mkdirSync(path.join(dir, shared), { recursive: true });
      fs.writeFileSync(path.join(dir, shared, 'stage.json'), JSON.stringify({ stage: shared, hash, dir: `../../_stages/${shared}-${hash}` }));
    }
  }
  if (r.data) writeUpstream(dir, { data: r.data, sid: 'sid' });
  for (const [ck, metrics] of Object.entries(r.test ?? {})) {
    const file = evalReportFile(dir, stage, ck, 'test');
    writeEvalReport({ run: dir, stage, checkpoint: ck, step: 1, split: 'test', users: r.users ?? 1, userSample: r.userSample, beam: 1, constrained: false, ks: [10], backend: 'cpu', seconds: 0, usersPerSec: 0, metrics: metrics ?? {}, popular: r.popular ?? {}, createdAt: at, file });
  }
  // Rows without a kind are step rows (kind 'train').
  const rows = [
    ...(r.rl ?? []).map((row) => ({ stage: 'rl', kind: 'train', time: at, ...row })),
    ...(r.rows ?? []).map((row) => ({ stage, kind: 'train', time: at, ...row })),
    ...(stage === 'sft' ? Object.entries(r.test ?? {}).map(([checkpoint, m]) => ({ stage, kind: 'test', time: at, checkpoint, step: 1, ...m })) : []),
  ];
  if (rows.length) fs.writeFileSync(path.join(dir, 'metrics.jsonl'), rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
  return dir;
}
