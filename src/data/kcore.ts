/**
 * Iterative k-core filter: drop every user with fewer than `minUser` interactions and every item
 * with fewer than `k`, and repeat, because each removal can push others below the bar, until
 * nothing changes. Counts are interactions (a repeated user-item pair counts twice), as in the
 * usual Amazon 5-core preprocessing.
 */
import type { RawLog } from './sources/raw.js';

export interface KcoreResult {
  log: RawLog;
  /** Passes over the log until stable (1 when nothing was dropped). */
  passes: number;
}

/**
 * Pure: returns a new log with the surviving rows in their input order (names arrays are shared).
 * `minUser` defaults to `k`; prepare raises it to 3 so every user can be split leave-one-out.
 * k <= 1 with minUser <= 1 keeps everything.
 */
export function kcore(log: RawLog, k: number, minUser = k): KcoreResult {
  const N = log.user.length;
  const keep = new Uint8Array(N).fill(1);
  const userCount = new Int32Array(log.userNames.length);
  const itemCount = new Int32Array(log.itemNames.length);
  let passes = 0;
  for (;;) {
    passes++;
    userCount.fill(0);
    itemCount.fill(0);
    for (let n = 0; n < N; n++) {
      if (keep[n]) {
        userCount[log.user[n]]++;
        itemCount[log.item[n]]++;
      }
    }
    let dropped = 0;
    for (let n = 0; n < N; n++) {
      if (keep[n] && (userCount[log.user[n]] < minUser || itemCount[log.item[n]] < k)) {
        keep[n] = 0;
        dropped++;
      }
    }
    if (dropped === 0) break;
  }
  let kept = 0;
  for (let n = 0; n < N; n++) kept += keep[n];
  const user = new Int32Array(kept);
  const item = new Int32Array(kept);
  const time = new Float64Array(kept);
  for (let n = 0, m = 0; n < N; n++) {
    if (!keep[n]) continue;
    user[m] = log.user[n];
    item[m] = log.item[n];
    time[m] = log.time[n];
    m++;
  }
  return { log: { userNames: log.userNames, itemNames: log.itemNames, user, item, time }, passes };
}

/** Distinct users, distinct items and rows of a log (for manifests and logs). */
export function logCounts(log: RawLog): { users: number; items: number; interactions: number } {
  const u = new Uint8Array(log.userNames.length);
  const i = new Uint8Array(log.itemNames.length);
  let users = 0;
  let items = 0;
  for (let n = 0; n < log.user.length; n++) {
    if (!u[log.user[n]]) {
      u[log.user[n]] = 1;
      users++;
    }
    if (!i[log.item[n]]) {
      i[log.item[n]] = 1;
      items++;
    }
  }
  return { users, items, interactions: log.user.length };
}
