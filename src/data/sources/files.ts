/** Input-file checks and checksums shared by the file sources and the cache key. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Progress } from '../../cli/progress.js';
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

/** 1-based line and column of a character offset, for parse errors. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text.charCodeAt(k) === 10) {
      line++;
      lineStart = k + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Offset of the first JSON syntax error in `text` (or -1 if it parses), found by a small
 * recursive-descent scan. Used only after JSON.parse failed: Node's messages do not always give
 * a position, and users need file:line:column.
 */
export function jsonErrorOffset(text: string): number {
  let p = 0;
  const ws = () => {
    while (p < text.length && ' \t\r\n'.includes(text[p])) p++;
  };
  class Bad extends Error {}
  const fail = (): never => {
    throw new Bad();
  };
  const str = () => {
    if (text[p] !== '"') fail();
    p++;
    while (p < text.length && text[p] !== '"') {
      if (text.charCodeAt(p) < 0x20) fail();
      if (text[p] === '\\') {
        p++;
        if (text[p] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(p + 1, p + 5))) fail();
          p += 4;
        } else if (!'"\\/bfnrt'.includes(text[p] ?? 'x')) fail();
      }
      p++;
    }
    if (p >= text.length) fail();
    p++;
  };
  const value = (): void => {
    ws();
    const ch = text[p];
    if (ch === '{') {
      p++;
      ws();
      if (text[p] === '}') return void p++;
      for (;;) {
        ws();
        str();
        ws();
        if (text[p] !== ':') fail();
        p++;
        value();
        ws();
        if (text[p] === ',') p++;
        else if (text[p] === '}') return void p++;
        else fail();
      }
    } else if (ch === '[') {
      p++;
      ws();
      if (text[p] === ']') return void p++;
      for (;;) {
        value();
        ws();
        if (text[p] === ',') p++;
        else if (text[p] === ']') return void p++;
        else fail();
      }
    } else if (ch === '"') str();
    else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(p, p + 64));
      if (!m) fail();
      p += m![0].length;
    }
  };
  try {
    value();
    ws();
    return p < text.length ? p : -1;
  } catch (e) {
    if (e instanceof Bad) return Math.min(p, text.length);
    throw e;
  }
}

/** JSON.parse with a UserError naming file:line:column on bad syntax. */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const off = jsonErrorOffset(text);
    const at = off >= 0 ? lineColumnAt(text, off) : null;
    throw new UserError(`${file}${at ? `:${at.line}:${at.column}` : ''}: invalid JSON (${(e as Error).message.slice(0, 120)})`);
  }
}
