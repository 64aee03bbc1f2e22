/**
 * A child process that takes a lock and holds it (the other side of the lock tests):
 *   node holdLock.js <target> <hold ms> [block]
 * prints "locked" once it holds the lock; with "block" its main thread then spins without
 * yielding for the whole hold (as a long synchronous tensor op does); it exits normally after.
 */
import { acquireLock } from '../../src/io/lock.js';

const [target, holdMs, mode] = process.argv.slice(2);
const lock = await acquireLock(target, { what: target, purpose: 'holding it for a test', wait: true });
process.stdout.write('locked\n');
if (mode === 'block') {
  const end = Date.now() + Number(holdMs);
  while (Date.now() < end) {
    // spin: the heartbeat must come from the worker thread
  }
  lock.release();
} else {
  setTimeout(() => lock.release(), Number(holdMs));
}
