/** Input-file checks and checksums shared by the file sources and the cache key. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
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
        ? `${key}: file not found: ${file} (paths are relative to the working directory ${process.cwd()})`
        : `${key}: cannot read ${file}: ${(e as Error).message}`,
    );
  }
  if (!st.isFile()) throw new UserError(`${key}: ${file} is not a file`);
  if (st.size === 0) throw new UserError(`${key}: ${file} is empty (0 bytes)`);
  return st.size;
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
