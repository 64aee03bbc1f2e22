/**
 * The raw interaction log every file source produces before filtering and indexing: external ids
 * interned to small integers, one row per interaction, in input order. Input order is the
 * tie-breaker for equal timestamps, so sequences are stable.
 */
import type { Dataset } from '../types.js';

export interface RawLog {
  /** External user ids; `user[n]` indexes this. May hold names no row uses any more (after k-core). */
  userNames: string[];
  itemNames: string[];
  /** [N] interned user of each interaction. */
  user: Int32Array;
  /** [N] interned item of each interaction. */
  item: Int32Array;
  /** [N] timestamp (any unit; only the order matters). */
  time: Float64Array;
}

/** What a file source returns: the log plus optional item text keyed by external item id. */
export interface SourceResult {
  log: RawLog;
  itemText: Map<string, string> | null;
}

/** Growable builder that interns ids as rows arrive (streaming sources). */
export class RawLogBuilder {
  private readonly userIndex = new Map<string, number>();
  private readonly itemIndex = new Map<string, number>();
  private readonly userNames: string[] = [];
  private readonly itemNames: string[] = [];
  private user = new Int32Array(1024);
  private item = new Int32Array(1024);
  private time = new Float64Array(1024);
  private n = 0;

  get size(): number {
    return this.n;
  }

  add(user: string, item: string, time: number): void {
    if (this.n === this.user.length) this.grow();
    this.user[this.n] = intern(this.userIndex, this.userNames, user);
    this.item[this.n] = intern(this.itemIndex, this.itemNames, item);
    this.time[this.n] = time;
    this.n++;
  }

  build(): RawLog {
    return {
      userNames: this.userNames,
      itemNames: this.itemNames,
      user: this.user.slice(0, this.n),
      item: this.item.slice(0, this.n),
      time: this.time.slice(0, this.n),
    };
  }

  private grow(): void {
    const cap = this.user.length * 2;
    const u = new Int32Array(cap);
    u.set(this.user);
    const i = new Int32Array(cap);
    i.set(this.item);
    const t = new Float64Array(cap);
    t.set(this.time);
    this.user = u;
    this.item = i;
    this.time = t;
  }
}

function intern(index: Map<string, number>, names: string[], key: string): number {
  let k = index.get(key);
  if (k === undefined) {
    k = names.length;
    index.set(key, k);
    names.push(key);
  }
  return k;
}

/** A log from `[user, item, time]` rows (tests, small inputs). */
export function rawLogFromRows(rows: [string, string, number][]): RawLog {
  const b = new RawLogBuilder();
  for (const [u, i, t] of rows) b.add(u, i, t);
  return b.build();
}

/**
 * The log without exact duplicate rows (same user, item and timestamp; the first is kept, input
 * order otherwise unchanged). A doubled row is an export error, not a second interaction: kept,
 * it makes the validation target equal the test target. Returns the number dropped.
 */
export function dropDuplicateRows(log: RawLog): { log: RawLog; dropped: number } {
  const seen = new Set<string>();
  const keep: number[] = [];
  for (let n = 0; n < log.user.length; n++) {
    const key = `${log.user[n]} ${log.item[n]} ${log.time[n]}`;
    if (seen.has(key)) continue;
    seen.add(key);
    keep.push(n);
  }
  const dropped = log.user.length - keep.length;
  if (dropped === 0) return { log, dropped };
  const pick = <T extends Int32Array | Float64Array>(a: T): T => {
    const out = new (a.constructor as new (n: number) => T)(keep.length);
    keep.forEach((n, j) => (out[j] = a[n]));
    return out;
  };
  return { log: { ...log, user: pick(log.user), item: pick(log.item), time: pick(log.time) }, dropped };
}

const CANONICAL_INT = /^(0|[1-9][0-9]{0,14})$/;

/**
 * Dense order of the ids that occur in `used` (interned ids in input order): ascending numeric
 * when every such id is a canonical non-negative integer (so LC-Rec/LETTER files, already
 * numbered 0..N-1, keep their numbering and their `*.index.json` lines up), else order of first
 * appearance in the input.
 */
function denseOrder(names: string[], used: Int32Array): number[] {
  const seen = new Uint8Array(names.length);
  const order: number[] = [];
  for (let n = 0; n < used.length; n++) {
    const k = used[n];
    if (!seen[k]) {
      seen[k] = 1;
      order.push(k);
    }
  }
  if (order.every((k) => CANONICAL_INT.test(names[k]))) order.sort((x, y) => Number(names[x]) - Number(names[y]));
  return order;
}

/**
 * Index a (filtered) log into a Dataset: dense user and item indices, each user's items sorted by
 * time with input order breaking ties. Every interned id that no row uses is left out.
 */
export function logToDataset(
  log: RawLog,
  meta: { name: string; source: Dataset['source']; itemText: Map<string, string> | null },
): Dataset {
  const N = log.user.length;
  const userOrder = denseOrder(log.userNames, log.user);
  const itemOrder = denseOrder(log.itemNames, log.item);
  const userDense = new Int32Array(log.userNames.length).fill(-1);
  userOrder.forEach((k, d) => (userDense[k] = d));
  const itemDense = new Int32Array(log.itemNames.length).fill(-1);
  itemOrder.forEach((k, d) => (itemDense[k] = d));

  // Counting sort by user keeps input order within a user; then a stable sort by time per user.
  const U = userOrder.length;
  const start = new Int32Array(U + 1);
  for (let n = 0; n < N; n++) start[userDense[log.user[n]] + 1]++;
  for (let u = 0; u < U; u++) start[u + 1] += start[u];
  const fill = start.slice(0, U);
  const rows = new Int32Array(N);
  for (let n = 0; n < N; n++) rows[fill[userDense[log.user[n]]]++] = n;

  const sequences: Int32Array[] = new Array(U);
  for (let u = 0; u < U; u++) {
    const mine = Array.from(rows.subarray(start[u], start[u + 1]));
    // Array.prototype.sort is stable (ES2019), and rows are in input order: ties keep it.
    mine.sort((x, y) => log.time[x] - log.time[y]);
    const seq = new Int32Array(mine.length);
    for (let j = 0; j < mine.length; j++) seq[j] = itemDense[log.item[mine[j]]];
    sequences[u] = seq;
  }

  const itemIds = itemOrder.map((k) => log.itemNames[k]);
  return {
    name: meta.name,
    source: meta.source,
    itemIds,
    userIds: userOrder.map((k) => log.userNames[k]),
    sequences,
    itemText: meta.itemText ? itemIds.map((id) => meta.itemText!.get(id) ?? '') : null,
    truth: null,
  };
}
