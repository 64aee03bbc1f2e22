/**
 * Locks between processes: the holder is named exactly, a waiter waits and then gets the lock, a
 * holder killed with SIGKILL is taken over (at once on this host; after the stale timeout when
 * it is on another host), a blocked main thread keeps its lock, and a lock taken over is noticed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.js';
import { acquireLock, lockPath, readHolder, withLock, type LockHolder } from '../../src/io/lock.js';
import { tmpDir } from '../helpers/tmp.js';

const HOLDER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'holdLock.js');

/** Start a child holding `target`'s lock; resolves once it holds it. */
function holdInChild(target: string, holdMs: number, mode = '', env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, [HOLDER, target, String(holdMs), mode], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve(child));
    child.on('exit', (code) => reject(new Error(`holder exited ${code} before locking`)));
  });
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.on('exit', (code) => r(code))));

test('a held lock names its holder; wait: false refuses, wait: true waits and then holds it', async () => {
  const target = path.join(tmpDir(), 'runs', 'a_s1');
  const child = await holdInChild(target, 1500);
  const h = readHolder(target)!;
  assert.deepEqual([h.host, h.pid, h.purpose], [os.hostname(), child.pid, 'holding it for a test']);
  await assert.rejects(
    acquireLock(target, { what: 'the run folder a_s1', purpose: 'train', wait: false }),
    (e: unknown) =>
      e instanceof UserError &&
      e.message.startsWith(`the run folder a_s1 is in use by another process (${os.hostname()}:${child.pid} since ${h.since}: holding it for a test)`),
  );
  const logs: string[] = [];
  const lock = await acquireLock(target, { what: 'the run folder a_s1', purpose: 'train', wait: true, log: (l) => logs.push(l), pollMs: 50 });
  assert.deepEqual(logs, [`waiting for the run folder a_s1 (held by ${os.hostname()}:${child.pid} since ${h.since}: holding it for a test)`]);
  assert.equal(await exited(child), 0);
  assert.equal(readHolder(target)!.pid, process.pid);
  lock.release();
  assert.equal(fs.existsSync(lockPath(target)), false);
  lock.release(); // idempotent
});

test('the lock of a holder killed with SIGKILL on this host is taken over at once', async () => {
  const target = path.join(tmpDir(), '_stages', 'sft-abc');
  const child = await holdInChild(target, 60_000);
  child.kill('SIGKILL');
  await exited(child);
  assert.equal(readHolder(target)!.pid, child.pid, 'a killed holder leaves its lock file');
  const logs: string[] = [];
  await withLock(target, { what: 'the sft stage', purpose: 'training', wait: false, log: (l) => logs.push(l) }, () => {
    assert.equal(readHolder(target)!.pid, process.pid);
  });
  assert.deepEqual(logs, [`taking over the lock on the sft stage: its holder ${os.hostname()}:${child.pid} is no longer running`]);
  assert.equal(fs.existsSync(lockPath(target)), false);
});

test('a holder on another host that stops refreshing its lock blocks a waiter for the stale timeout, not longer', async () => {
  const target = path.join(tmpDir(), 'data', 'synthetic-123');
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const dead: LockHolder = { host: 'node-that-crashed', pid: 4242, since: '2030-01-01T00:00:00.000Z', token: 'feedbeef', purpose: 'preparing data' };
  fs.writeFileSync(lockPath(target), JSON.stringify(dead));
  const before = process.env.ADAGRPO_LOCK_STALE;
  process.env.ADAGRPO_LOCK_STALE = '1';
  try {
    const logs: string[] = [];
    const lock = await acquireLock(target, { what: 'the prepared data', purpose: 'preparing data', wait: true, log: (l) => logs.push(l), pollMs: 50 });
    assert.equal(logs.length, 2, logs.join('\n'));
    assert.equal(logs[0], 'waiting for the prepared data (held by node-that-crashed:4242 since 2030-01-01T00:00:00.000Z: preparing data)');
    assert.match(logs[1], /^taking over the lock on the prepared data: its holder node-that-crashed:4242 has not refreshed it for \d+ s \(stale after 1 s\)$/);
    lock.release();
  } finally {
    if (before === undefined) delete process.env.ADAGRPO_LOCK_STALE;
    else process.env.ADAGRPO_LOCK_STALE = before;
  }
});

test('a holder whose main thread is blocked keeps refreshing its lock (the heartbeat is a worker thread)', async () => {
  const target = path.join(tmpDir(), 'runs', 'b_s1');
  // A beat every 250 ms (stale after 1 s); the holder then spins its main thread for 3 s, during
  // which no timer of that thread can run: only a heartbeat off the main thread moves the mtime.
  const child = await holdInChild(target, 3000, 'block', { ADAGRPO_LOCK_STALE: '1' });
  const mtimes = new Set<number>();
  while (child.exitCode === null) {
    try {
      mtimes.add(fs.statSync(lockPath(target)).mtimeMs);
    } catch {
      break; // released
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await exited(child), 0);
  assert.ok(mtimes.size >= 3, `the lock's mtime moved ${mtimes.size - 1} times while the holder's main thread was blocked`);
  assert.equal(readHolder(target), null);
});

test('a lock taken over by another process is reported lost and not removed on release', async () => {
  const target = path.join(tmpDir(), 'c');
  const before = process.env.ADAGRPO_LOCK_STALE;
  process.env.ADAGRPO_LOCK_STALE = '1'; // a beat every 250 ms
  const logs: string[] = [];
  const lock = await acquireLock(target, { what: 'c', purpose: 'test', wait: false, log: (l) => logs.push(l) });
  if (before === undefined) delete process.env.ADAGRPO_LOCK_STALE;
  else process.env.ADAGRPO_LOCK_STALE = before;
  const other: LockHolder = { host: 'elsewhere', pid: 7, since: 'now', token: 'other', purpose: 'took it over' };
  fs.writeFileSync(lockPath(target), JSON.stringify(other));
  for (let i = 0; i < 200 && !lock.isLost; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(lock.isLost, true);
  assert.match(logs[0], /^warning: the lock on .*c was taken over by elsewhere:7 since now; this process was judged dead/);
  lock.release();
  assert.deepEqual(readHolder(target), other);
  fs.rmSync(lockPath(target));
});
