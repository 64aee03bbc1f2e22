import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A fresh temp folder, removed when the process exits. */
export function tmpDir(prefix = 'adagrpo-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeFile(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}
