/**
 * JSON files: parse errors name file:line:column, and every file the program reads back (run
 * folders, checkpoints, caches) is checked against its zod schema here, so a damaged or foreign
 * file is a user error that names the file and says what to do, never a stack trace.
 */
import fs from 'node:fs';
import type { z } from 'zod';
import { UserError } from '../errors.js';
import { atomicWriteJson } from './atomic.js';

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

export interface JsonFileKind {
  /** What the file is, for messages: "run metadata (meta.json)". */
  what: string;
  /** What the user can do about a damaged file. */
  fix: string;
}

/** The first few schema problems, each with its dot path. */
export function describeIssues(error: z.ZodError, most = 3): string {
  const parts = error.issues.slice(0, most).map((i) => `${i.path.length > 0 ? i.path.join('.') : '(top level)'}: ${i.message}`);
  const more = error.issues.length > most ? `; and ${error.issues.length - most} more` : '';
  return parts.join('; ') + more;
}

/** Validate a parsed value; a UserError naming `file` when it does not fit the schema. */
export function checkJson<S extends z.ZodType>(value: unknown, schema: S, file: string, kind: JsonFileKind): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new UserError(`${file}: not a valid ${kind.what} (${describeIssues(r.error)}). ${kind.fix}`);
  return r.data;
}

/** Read, parse and validate a JSON file. Missing, unreadable, malformed or foreign: a UserError. */
export function readJsonFile<S extends z.ZodType>(file: string, schema: S, kind: JsonFileKind): z.infer<S> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${code === 'ENOENT' ? `${kind.what} ${file} is missing` : `cannot read ${kind.what} ${file}: ${(e as Error).message}`}. ${kind.fix}`);
  }
  let value: unknown;
  try {
    value = parseJsonFile(text, file);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${e.message} in ${kind.what}. ${kind.fix}`);
    throw e;
  }
  return checkJson(value, schema, file, kind);
}

/** Validate, then write atomically: what is written is what the schema will read back. */
export function writeJsonFile<S extends z.ZodType>(file: string, schema: S, value: z.infer<S>): void {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`refusing to write ${file}: ${describeIssues(r.error)}`); // a bug, not the user's
  atomicWriteJson(file, value);
}
