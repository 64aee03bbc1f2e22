/**
 * Locks on shared state: run folders, the stage cache (`runs/_stages/...`) and the data cache
 * (`data/processed/...`), which several processes (sweep shards, Slurm array tasks, a second
 * `train`) may reach at once, possibly from several hosts over a network file system.
 *
 * The lock of `<target>` is the file `<target>.lock`, holding its holder as JSON (host, pid,
 * start time, a random token). It is made the NFS-safe way: the holder JSON is written to a
 * private temp file, then hard-linked to the lock name; link() is atomic on the server and fails
 * when the name exists (a retried NFS link that did succeed is recognised by the temp file's
 * link count). So the holder named in every "held by" message is exactly the one that holds it.
 *
 * A holder proves it is alive by touching the lock file's mtime (a heartbeat). The heartbeat runs
 * in a worker thread: training runs long synchronous tensor work on the main thread, and a timer
 * there could be late by more than the stale timeout, letting a waiter take a live lock.
 * A lock is taken over when its holder is dead: at once when the holder is a process of this host
 * that no longer exists, otherwise when its heartbeat is older than the stale timeout
 * (ADAGRPO_LOCK_STALE, seconds, default 60). Taking over renames the lock away (atomic: one
 * process wins) and checks that what it renamed is the dead holder's; a live lock renamed in a
 * race is linked back.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.js';

export interface LockHolder {
  host: string;
  pid: number;
  /** ISO time the lock was taken. */
  since: string;
  token: string;
  /** What the holder does with it, e.g. "training the SFT stage". */
  purpose: string;
}

export const DEFAULT_STALE_SECONDS = 60;

/** Stale timeout in ms: ADAGRPO_LOCK_STALE seconds (for tests and slow shared file systems). */
export function lockStaleMs(): number {
  const text = process.env.ADAGRPO_LOCK_STALE;
  if (text === undefined || text === '') return DEFAULT_STALE_SECONDS * 1000;
  const s = Number(text);
  if (!Number.isFinite(s) || s <= 0) throw new UserError(`ADAGRPO_LOCK_STALE="${text}": give the stale-lock timeout in seconds (> 0)`);
  return s * 1000;
}

export const lockPath = (target: string) => `${target}.lock`;

/** "host:pid since time". */
export function describeHolder(h: LockHolder): string {
  return `${h.host}:${h.pid} since ${h.since}`;
}

/** The holder of `target`'s lock, or null when it is free (a lock file being replaced counts as free). */
export function readHolder(target: string): LockHolder | null {
  try {
    return JSON.parse(fs.readFileSync(lockPath(target), 'utf8')) as LockHolder;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // Written whole before it is linked, so unparsable means not ours: treat as a stranger's lock.
    return { host: '?', pid: 0, since: '?', token: '?', purpose: `unreadable lock file (${(e as Error).message})` };
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a held lock may be taken over, or null when its holder counts as alive. */
export function deadReason(target: string, h: LockHolder, staleMs = lockStaleMs()): string | null {
  if (h.host === os.hostname() && h.pid > 0 && !pidAlive(h.pid)) return `its holder ${h.host}:${h.pid} is no longer running`;
  let mtime: number;
  try {
    mtime = fs.statSync(lockPath(target)).mtimeMs;
  } catch {
    return null; // gone meanwhile: the next attempt takes it
  }
  const age = Date.now() - mtime;
  return age > staleMs ? `its holder ${h.host}:${h.pid} has not refreshed it for ${(age / 1000).toFixed(0)} s (stale after ${staleMs / 1000} s)` : null;
}

// ---------------------------------------------------------------- heartbeat

/**
 * One worker per process refreshes every held lock's mtime; it reports a lock whose file no
 * longer carries our token (taken over because this process was judged dead).
 */
const HEARTBEAT_SRC = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const held = new Map(); // lock file -> { token, everyMs, due }
parentPort.on('message', (m) => {
  if (m.add) held.set(m.add, { token: m.token, everyMs: m.everyMs, due: Date.now() + m.everyMs });
  else held.delete(m.remove);
});
setInterval(() => {
  const now = Date.now();
  for (const [file, h] of held) {
    if (now < h.due) continue;
    h.due = now + h.everyMs;
    let ours = false;
    try { ours = JSON.parse(fs.readFileSync(file, 'utf8')).token === h.token; } catch {}
    if (!ours) { held.delete(file); parentPort.postMessage({ lost: file }); continue; }
    try { fs.utimesSync(file, new Date(now), new Date(now)); } catch {}
  }
}, 100);
`;

let heartbeat: Worker | null = null;
const heldLocks = new Map<string, Lock>();

function startHeartbeat(): Worker {
  if (heartbeat) return heartbeat;
  heartbeat = new Worker(HEARTBEAT_SRC, { eval: true });
  heartbeat.on('message', (m: { lost: string }) => heldLocks.get(m.lost)?.markLost());
  // After the listener, which would ref it again: the heartbeat must never keep a process alive.
  heartbeat.unref();
  // Locks are files: a process that exits (normally, on an error or a second Ctrl-C) removes its own.
  process.on('exit', () => {
    for (const l of heldLocks.values()) l.release();
  });
  return heartbeat;
}

// ---------------------------------------------------------------- acquire / release

export class Lock {
  private lost = false;
  private released = false;

  constructor(
    readonly target: string,
    readonly holder: LockHolder,
    private readonly log: (line: string) => void,
    /** The outermost folder acquireLock created, if any. */
    private readonly madeDir?: string,
  ) {}

  get file(): string {
    return lockPath(this.target);
  }

  /** True when another process took this lock over (it judged this one dead). */
  get isLost(): boolean {
    return this.lost;
  }

  markLost(): void {
    if (this.lost || this.released) return;
    this.lost = true;
    const now = readHolder(this.target);
    this.log(`warning: the lock on ${this.target} was taken over${now ? ` by ${describeHolder(now)}` : ''}; this process was judged dead (raise ADAGRPO_LOCK_STALE on a slow file system)`);
  }

  /** Remove the lock file if it is still ours. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    heldLocks.delete(this.file);
    heartbeat?.postMessage({ remove: this.file });
    if (readHolder(this.target)?.token === this.holder.token) fs.rmSync(this.file, { force: true });
    if (this.madeDir) {
      // Up to the folder we made, each only if empty (the locked work usually filled them).
      for (let d = path.dirname(this.file); d.length >= this.madeDir.length; d = path.dirname(d)) {
        try {
          fs.rmdirSync(d);
        } catch {
          break;
        }
      }
    }
  }
}

export interface AcquireOptions {
  /** What the lock protects, for messages: "the SFT stage runs/_stages/sft-1a2b". */
  what: string;
  /** What this process will do with it (recorded in the lock file). */
  purpose: string;
  /** Wait for the holder (stage caches) or fail at once with a UserError naming it (a run folder being written). */
  wait: boolean;
  log?: (line: string) => void;
  /** Stop waiting: rejects with LockWaitInterrupted. */
  signal?: AbortSignal;
  /** Do not print the waiting line (short critical sections such as a sweep's record). */
  quiet?: boolean;
  /** Poll interval while waiting (default 1 s, or less with a short stale timeout). */
  pollMs?: number;
}

/** Ctrl-C while waiting for another process's lock: nothing of the locked entry was written. */
export class LockWaitInterrupted extends Error {
  constructor(
    what: string,
    /** The AbortSignal's reason: 'SIGTERM' or 'SIGINT' (see src/cli/signals.ts). */
    readonly signal: unknown = 'SIGINT',
  ) {
    super(`interrupted while waiting for ${what}; nothing was written to it. Run the same command again to continue.`);
    this.name = 'LockWaitInterrupted';
  }

  get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : 130;
  }
}

let counter = 0;

/** One attempt: true when we hold the lock now. */
function tryLink(target: string, holder: LockHolder): boolean {
  const file = lockPath(target);
  const tmp = `${file}.${holder.token}.${counter++}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(holder) + '\n');
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      // A holder releasing its lock removed the (then empty) folder: make it again and retry.
      fs.mkdirSync(path.dirname(file), { recursive: true });
      return false;
    }
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // NFS: a retried link whose first reply was lost reports EEXIST although it succeeded.
    return fs.statSync(tmp).nlink === 2;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Take over the lock of a dead holder `dead` (the caller then links its own; another process may be quicker). */
function takeOver(target: string, dead: LockHolder, token: string): void {
  const file = lockPath(target);
  const aside = `${file}.${token}.${counter++}.dead`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else took it over first
    throw e;
  }
  let moved: LockHolder | null = null;
  try {
    moved = JSON.parse(fs.readFileSync(aside, 'utf8')) as LockHolder;
  } catch {
    // unreadable: it was the stranger's lock we judged dead
  }
  if (moved && moved.token !== dead.token) {
    // A live holder took it between our check and the rename: give it back (if nobody else has linked meanwhile).
    try {
      fs.linkSync(aside, file);
    } catch {
      // its holder's heartbeat will report it lost
    }
  }
  fs.rmSync(aside, { force: true });
}

/**
 * Lock `target` (a path that need not exist). Waits for a live holder when `wait`, printing
 * "waiting for <what> (held by host:pid since time)"; otherwise throws a UserError naming it.
 */
export async function acquireLock(target: string, opts: AcquireOptions): Promise<Lock> {
  const log = opts.log ?? (() => {});
  const holder: LockHolder = {
    host: os.hostname(),
    pid: process.pid,
    since: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
    purpose: opts.purpose,
  };
  const pollMs = opts.pollMs ?? Math.min(1000, Math.max(50, lockStaleMs() / 8));
  // Folders made only to hold the lock are removed with it: a command that fails leaves nothing.
  const made = fs.mkdirSync(path.dirname(lockPath(target)), { recursive: true });
  let announced: string | null = null;
  for (;;) {
    if (tryLink(target, holder)) break;
    const h = readHolder(target);
    if (h === null) continue; // released between our link and our read
    if (heldLocks.get(lockPath(target))?.holder.token === h.token) throw new Error(`${opts.what}: this process already holds its lock (a bug: it would wait for itself)`);
    const dead = deadReason(target, h);
    if (dead !== null) {
      log(`taking over the lock on ${opts.what}: ${dead}`);
      takeOver(target, h, holder.token);
      continue;
    }
    if (!opts.wait) {
      throw new UserError(
        `${opts.what} is in use by another process (${describeHolder(h)}: ${h.purpose}). ` +
          `Wait for it to finish, or stop it; a lock whose holder died is taken over (at once on this host, after ${lockStaleMs() / 1000} s from another).`,
      );
    }
    if (announced !== h.token && !opts.quiet) {
      log(`waiting for ${opts.what} (held by ${describeHolder(h)}: ${h.purpose})`);
      announced = h.token;
    }
    if (opts.signal?.aborted) throw new LockWaitInterrupted(opts.what, opts.signal.reason);
    await new Promise((r) => setTimeout(r, pollMs));
    if (opts.signal?.aborted) throw new LockWaitInterrupted(opts.what, opts.signal.reason);
  }
  const lock = new Lock(target, holder, log, made);
  heldLocks.set(lock.file, lock);
  // A quarter of the stale timeout: three beats may be missed (a slow NFS server) before a waiter takes over.
  const everyMs = Math.min(15_000, Math.max(100, lockStaleMs() / 4));
  startHeartbeat().postMessage({ add: lock.file, token: holder.token, everyMs });
  return lock;
}

/** Run `fn` holding `target`'s lock; released however `fn` ends. */
export async function withLock<T>(target: string, opts: AcquireOptions, fn: (lock: Lock) => Promise<T> | T): Promise<T> {
  const lock = await acquireLock(target, opts);
  try {
    return await fn(lock);
  } finally {
    lock.release();
  }
}
