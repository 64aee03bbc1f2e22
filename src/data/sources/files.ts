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

/**
 * Streaming UTF-8 check of a file's bytes, chunk by chunk, that knows the line it is on. The
 * well-formed sequences are those of the Unicode standard (Table 3-7): no overlong forms, no
 * surrogates, nothing above U+10FFFF. Text sources refuse invalid bytes rather than decode them as
 * U+FFFD, which would merge distinct ids.
 */
export class Utf8Check {
  /** 1-based line of the next byte. */
  line = 1;
  /** Bytes read so far. */
  offset = 0;
  private need = 0;
  private lo = 0x80;
  private hi = 0xbf;

  /** Index in `chunk` of the first byte that makes the input invalid, or -1. */
  push(chunk: Uint8Array): number {
    for (let k = 0; k < chunk.length; k++) {
      const b = chunk[k];
      if (this.need > 0) {
        if (b < this.lo || b > this.hi) return k;
        this.need--;
        this.lo = 0x80;
        this.hi = 0xbf;
      } else if (b === 0x0a) this.line++;
      else if (b >= 0x80) {
        if (b >= 0xc2 && b <= 0xdf) this.need = 1;
        else if (b >= 0xe0 && b <= 0xef) {
          this.need = 2;
          if (b === 0xe0) this.lo = 0xa0;
          if (b === 0xed) this.hi = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          this.need = 3;
          if (b === 0xf0) this.lo = 0x90;
          if (b === 0xf4) this.hi = 0x8f;
        } else return k;
      }
      this.offset++;
    }
    return -1;
  }

  /** False when the input ended inside a multi-byte sequence. */
  get complete(): boolean {
    return this.need === 0;
  }
}
