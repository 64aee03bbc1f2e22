/**
 * Sweep shards (`sweep --shard K/N`): a deterministic partition of a sweep's cells (grid cell ×
 * seed) into N shards that together run every cell exactly once. Every shard computes the same
 * partition from the plan alone (configs, never the state of run folders), so N processes started
 * anywhere, at any time, agree without talking to each other.
 *
 * Cells that depend on another cell (rl.randomGate.matchRun, rl.lambdaMatchRun) go into the same
 * shard, after it: a dependent cell never waits across shards, so no shard idles or deadlocks on
 * another, and a failed dependency is seen by the shard that runs both. A dependency outside the
 * sweep must have completed before the sweep starts (refused up front otherwise).
 *
 * Balance: greedy longest-first over these groups, by expected cost. A shard's cost is its RL
 * stages plus every distinct upstream stage (SFT, ranker) it needs: one process trains a shared
 * stage (under its lock) while every other shard that needs it waits that long, so a shard pays
 * each upstream stage once whether it trains it or waits for it. Costs are a relative proxy
 * (tokens a stage pushes through the policy), good enough to spread work, not a time estimate.
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { UserError } from '../errors.js';
import { hashOf } from '../hash.js';
import { stageKey } from '../train/pipeline.js';
import type { PreparedInputs } from '../data/inputs.js';

export interface ShardSpec {
  /** 1-based, as Slurm's array task ids `--array=1-N`. */
  index: number;
  count: number;
}

/** `K/N` with 1 <= K <= N. */
export function parseShard(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new UserError(`--shard expects K/N (shard K of N, 1 <= K <= N), e.g. --shard 2/3; got "${text}"`);
  const [index, count] = [Number(m[1]), Number(m[2])];
  if (count < 1 || index < 1 || index > count) throw new UserError(`--shard ${text}: K must be between 1 and N (N >= 1)`);
  return { index, count };
}

/** What partitioning needs of a planned run. */
export interface ShardCell {
  dir: string;
  config: Config;
}

/** Run folders a config reads another run's results from, with the key that names each. */
export function runDependencies(config: Config): { key: string; dir: string }[] {
  const out: { key: string; dir: string }[] = [];
  // Only the random gate reads matchRun (a sweep may set it on every cell).
  if (config.rl.algorithm === 'random-gate' && config.rl.randomGate.matchRun) out.push({ key: 'rl.randomGate.matchRun', dir: config.rl.randomGate.matchRun });
  if (config.rl.lambdaMatchRun) out.push({ key: 'rl.lambdaMatchRun', dir: config.rl.lambdaMatchRun });
  return out;
}

export interface CellCost {
  /** Upstream stages by identity (same key = the same cached stage) and their cost. */
  upstream: { key: string; cost: number }[];
  rl: number;
}

/** Relative cost proxy: sequence positions × samples × passes each stage processes. */
export function expectedCost(config: Config): CellCost {
  // The stage cache is keyed by the data and SID hashes; before any data is read, the data and
  // sid config sections identify them as well (the same sections give the same hashes).
  const pseudo = { manifest: { hash: hashOf(config.data) }, sidHash: hashOf(config.sid) } as unknown as PreparedInputs;
  const tokens = config.policy.maxHistory + config.sid.levels + 1;
  const sft = config.sft.steps * config.sft.batchSize * tokens;
  // The ranker is a small MLP over a history: a quarter of a policy pass per position.
  const ranker = (config.ranker.steps * config.ranker.batchSize * (config.ranker.maxHistory + 1)) / 4;
  // Rollouts decode every level, then the policy and the reference both score each rollout.
  const rl = config.rl.steps * config.rl.batchSize * config.rl.numGenerations * tokens * 3;
  return {
    upstream: [
      { key: `sft:${hashOf(stageKey('sft', config, pseudo))}`, cost: sft },
      { key: `ranker:${hashOf(stageKey('ranker', config, pseudo))}`, cost: ranker },
    ],
    rl,
  };
}

export interface Partition<T extends ShardCell> {
  /** shards[k - 1]: the cells of shard k in the order it runs them (a dependency before its dependents). */
  shards: T[][];
  /** Expected cost of each shard (same units as expectedCost). */
  costs: number[];
  /** Dependencies on runs outside the sweep, per dependent cell. */
  external: { cell: T; key: string; dir: string }[];
}

/**
 * Partition `cells` (in plan order) into `count` shards. Throws a UserError on a dependency
 * cycle. Pure: the same cells and count give the same partition in every process.
 */
export function partitionCells<T extends ShardCell>(cells: readonly T[], count: number): Partition<T> {
  const byDir = new Map(cells.map((c, i) => [path.resolve(c.dir), i]));
  const deps: number[][] = cells.map(() => []);
  const external: Partition<T>['external'] = [];
  // Union-find over dependency edges: a group is a unit of assignment.
  const parent = cells.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  cells.forEach((c, i) => {
    for (const d of runDependencies(c.config)) {
      const j = byDir.get(path.resolve(d.dir));
      if (j === undefined) external.push({ cell: c, key: d.key, dir: d.dir });
      else if (j === i) throw new UserError(`${c.dir}: ${d.key} names the run itself`);
      else {
        deps[i].push(j);
        parent[find(i)] = find(j);
      }
    }
  });
  const groups = new Map<number, number[]>();
  cells.forEach((_, i) => {
    const r = find(i);
    groups.set(r, [...(groups.get(r) ?? []), i]);
  });

  const costs = cells.map((c) => expectedCost(c.config));
  const units = [...groups.values()].map((members) => ({
    members: topoOrder(members, deps, cells),
    rl: members.reduce((s, i) => s + costs[i].rl, 0),
    upstream: new Map(members.flatMap((i) => costs[i].upstream.map((u) => [u.key, u.cost] as const))),
  }));
  const standalone = (u: (typeof units)[number]) => u.rl + [...u.upstream.values()].reduce((a, b) => a + b, 0);
  // Longest first; ties keep plan order (units are in order of their first cell).
  const order = units.map((u, k) => ({ u, k, c: standalone(u) })).sort((a, b) => b.c - a.c || a.k - b.k);

  const load = new Array<number>(count).fill(0);
  const have = Array.from({ length: count }, () => new Set<string>());
  const assigned: number[][] = Array.from({ length: count }, () => []);
  for (const { u } of order) {
    let best = 0;
    let bestLoad = Infinity;
    for (let s = 0; s < count; s++) {
      let extra = u.rl;
      for (const [key, cost] of u.upstream) if (!have[s].has(key)) extra += cost;
      if (load[s] + extra < bestLoad) {
        bestLoad = load[s] + extra;
        best = s;
      }
    }
    load[best] = bestLoad;
    for (const key of u.upstream.keys()) have[best].add(key);
    assigned[best].push(...u.members);
  }
  // Within a shard, run in plan order (seeds outermost: a first comparison exists early), each
  // group kept in its dependency order at the place of its first cell.
  const shards = assigned.map((members) => {
    const firstOf = new Map<number, number>();
    for (const i of members) {
      const r = find(i);
      firstOf.set(r, Math.min(firstOf.get(r) ?? Infinity, i));
    }
    const byGroup = [...firstOf.entries()].sort((a, b) => a[1] - b[1]);
    return byGroup.flatMap(([r]) => units.find((u) => find(u.members[0]) === r)!.members.map((i) => cells[i]));
  });
  return { shards, costs: load, external };
}

/** Members of one group with every dependency before its dependents; ties in plan order. */
function topoOrder(members: number[], deps: number[][], cells: readonly ShardCell[]): number[] {
  const out: number[] = [];
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (i: number, chain: number[]) => {
    if (state.get(i) === 'done') return;
    if (state.get(i) === 'visiting') {
      const cycle = [...chain.slice(chain.indexOf(i)), i].map((k) => cells[k].dir);
      throw new UserError(`these runs depend on each other in a cycle (rl.randomGate.matchRun / rl.lambdaMatchRun): ${cycle.join(' -> ')}`);
    }
    state.set(i, 'visiting');
    for (const j of [...deps[i]].sort((a, b) => a - b)) visit(j, [...chain, i]);
    state.set(i, 'done');
    out.push(i);
  };
  for (const i of [...members].sort((a, b) => a - b)) visit(i, []);
  return out;
}
