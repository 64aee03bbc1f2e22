/** Input-file checks and checksums shared by the file sources and the cache key. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Progress } from '../../progress.js';
import { UserError } from '../../errors.js';

/**
 * Fail early, with the config key, when an input file is missing, not a file or empty.
 * Returns its size in bytes.
 */
export function checkInputFile(file: string, key: string): number {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT'
        ? `${key}: file not found: ${file} (a relative path in a config file resolves against that file's folder; one given with --set against the working directory ${process.cwd()})`
        : `${key}: cannot read ${file}: ${(e as Error).message}`,
    );
  }
  if (!st.isFile()) throw new UserError(`${key}: ${file} is not a file`);
  if (st.size === 0) throw new UserError(`${key}: ${file} is empty (0 bytes)`);
  return st.size;
}

const MB = 1024 * 1024;

/** A file's size in MB (the total of a reading progress). */
export function fileMB(file: string): number {
  try {
    return fs.statSync(file).size / MB;
  } catch {
    return 0; // the reader reports the missing file
  }
}

/** Report the MB a read stream has delivered to `progress` (the reader stops it when done). */
export function trackBytes(input: fs.ReadStream, progress: Progress): void {
  let bytes = 0;
  input.on('data', (chunk) => {
    bytes += chunk.length;
    progress.update(bytes / MB);
  });
}

/** sha256 (hex) of a file, streamed so large logs are not held in memory. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Text that may be UTF-8 or Latin-1 (MovieLens 1M's movies.dat is Latin-1): UTF-8 when valid. */
export function decodeText(buf: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf).replace(/^\uFEFF/, '');
  } catch {
    return buf.toString('latin1');
  }
}
