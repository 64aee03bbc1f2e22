/**
 * Every file the program writes goes through here: write a temp file in the same folder, fsync,
 * then rename over the target. A kill mid-write leaves the old file or the new one, never half.
 */
import fs from 'node:fs';
import path from 'node:path';

let counter = 0;

/**
 * A write on an open descriptor fails without a path (a full disk: `ENOSPC, write`); name the
 * file the user asked for, so the message can say where.
 */
function withPath(e: unknown, file: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (e instanceof Error && typeof err.code === 'string' && err.path === undefined) err.path = file;
  return e;
}

export function atomicWrite(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    // A full disk must not also leave a half-written temp file behind.
    fs.rmSync(tmp, { force: true });
    throw withPath(e, file);
  }
}

export function atomicWriteJson(file: string, value: unknown, pretty = true): void {
  atomicWrite(file, JSON.stringify(value, null, pretty ? 2 : undefined) + '\n');
}

/**
 * Build a whole folder atomically: `fill` writes into a temp sibling folder which is then renamed
 * into place, so readers never see a half-built folder (checkpoints, processed-data caches).
 * If the target exists it is replaced.
 */
export function atomicDir(dir: string, fill: (tmpDir: string) => void): void {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.${process.pid}.${counter++}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
    if (fs.existsSync(dir)) {
      const old = `${dir}.${process.pid}.${counter++}.old`;
      fs.renameSync(dir, old);
      fs.renameSync(tmp, dir);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, dir);
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw withPath(e, dir);
  }
}

/** Append one line; metrics.jsonl is append-only, so a crash loses at most the line being written. */
export function appendLine(file: string, line: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    fs.appendFileSync(file, line.endsWith('\n') ? line : line + '\n');
  } catch (e) {
    throw withPath(e, file);
  }
}
