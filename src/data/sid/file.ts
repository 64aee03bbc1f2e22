/**
 * `sid.method: file`: load an LC-Rec / LETTER `*.index.json`,
 * `{"<item>": ["<a_183>", "<b_70>", "<c_232>", "<d_6>"], ...}`: the letter is the level
 * (a = first), the number the code. Items are matched to the dataset by external id; the file may
 * hold more items than the dataset (e.g. ones the k-core filter dropped), never fewer.
 */
import fs from 'node:fs';
import { UserError } from '../../errors.js';
import { lineColumnAt, parseJsonFile } from '../../io/json.js';
import { decodeText } from '../sources/files.js';
import { dedup } from './rqkmeans.js';
import type { SemanticIds } from './types.js';

const TOKEN = /^<([a-z])_(\d{1,9})>$/;
/** Codebook size assumed when every code of a level fits (the published files use 256). */
export const DEFAULT_FILE_CODEBOOK = 256;
/** Largest code accepted: the vocabulary holds one token per code, so a stray huge number is an error. */
export const MAX_FILE_CODE = 65535;

/** `file:line` of an item's key, for error messages (searched only when reporting an error). */
function whereIs(file: string, text: string, key: string): string {
  const m = new RegExp(`${JSON.stringify(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`).exec(text);
  return m ? `${file}:${lineColumnAt(text, m.index).line}` : file;
}

function readIndexText(file: string): string {
  try {
    return decodeText(fs.readFileSync(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT'
        ? `semantic-ID index file not found: ${file} (sid.file). Give the path of an existing *.index.json, or use sid.method: rq-kmeans.`
        : `cannot read semantic-ID index file ${file} (sid.file): ${(e as Error).message}`,
    );
  }
}

function parseJson(file: string, text: string): unknown {
  try {
    return parseJsonFile(text, file);
  } catch (e) {
    // parseJsonFile names file:line:column; say which setting points here and what to do.
    if (e instanceof UserError) throw new UserError(`${e.message}: malformed JSON in semantic-ID index (sid.file). Fix the syntax there.`);
    throw e;
  }
}

/**
 * Parse an index file into per-item tuples keyed by external id. Every item must have the same
 * number of tokens and token p must be of level p (`<a_..>` first, then `<b_..>`, ...).
 */
export function parseIndexFile(file: string): { tuples: Map<string, Int32Array>; levels: number } {
  const text = readIndexText(file);
  const raw = parseJson(file, text);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UserError(`${file}: a semantic-ID index must be a JSON object {"<item>": ["<a_1>", "<b_7>", ...]} (sid.file)`);
  const tuples = new Map<string, Int32Array>();
  let levels = -1;
  let firstKey = '';
  for (const [key, tokens] of Object.entries(raw as Record<string, unknown>)) {
    if (!Array.isArray(tokens) || tokens.length === 0)
      throw new UserError(`${whereIs(file, text, key)}: item "${key}": expected a non-empty list of tokens like ["<a_1>", "<b_7>"]`);
    if (levels < 0) {
      levels = tokens.length;
      firstKey = key;
    } else if (tokens.length !== levels) {
      throw new UserError(
        `${whereIs(file, text, key)}: item "${key}" has ${tokens.length} tokens but item "${firstKey}" has ${levels}; every item needs one token per level`,
      );
    }
    if (levels > 26) throw new UserError(`${whereIs(file, text, key)}: item "${key}" has ${levels} tokens; at most 26 levels (a..z)`);
    const tuple = new Int32Array(levels);
    tokens.forEach((tok, p) => {
      const m = typeof tok === 'string' ? TOKEN.exec(tok) : null;
      const expected = String.fromCharCode(97 + p);
      if (!m)
        throw new UserError(
          `${whereIs(file, text, key)}: item "${key}": malformed token ${JSON.stringify(tok)} at position ${p + 1}; expected "<${expected}_N>" with N a non-negative integer`,
        );
      if (m[1] !== expected)
        throw new UserError(
          `${whereIs(file, text, key)}: item "${key}": token "${tok}" at position ${p + 1} is of level "${m[1]}"; expected level "${expected}" (tokens must be in level order a, b, c, ...)`,
        );
      const code = Number(m[2]);
      if (code > MAX_FILE_CODE)
        throw new UserError(
          `${whereIs(file, text, key)}: item "${key}": token "${tok}" has code ${code}; codes above ${MAX_FILE_CODE} are not supported (one vocabulary token per code)`,
        );
      tuple[p] = code;
    });
    tuples.set(key, tuple);
  }
  if (levels < 0) throw new UserError(`${file}: the semantic-ID index is empty (sid.file)`);
  return { tuples, levels };
}

export interface LoadedSidFile {
  sids: SemanticIds;
  /** Items in the file that the dataset does not have (ignored). */
  extraItems: number;
}

/**
 * Semantic IDs for the dataset's items (`itemIds[i]` is item i's external id) from an index file.
 * K_l = 256 when every code of level l is below 256, else max code + 1. Tuples that still
 * collide get the dedup level.
 */
export function loadSidFile(file: string, itemIds: readonly string[]): LoadedSidFile {
  const { tuples, levels } = parseIndexFile(file);
  const n = itemIds.length;
  const codes = new Int32Array(n * levels);
  const missing: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = tuples.get(itemIds[i]);
    if (!t) missing.push(itemIds[i]);
    else codes.set(t, i * levels);
  }
  if (missing.length > 0) {
    const eg = missing
      .slice(0, 5)
      .map((s) => JSON.stringify(s))
      .join(', ');
    throw new UserError(
      `${file}: ${missing.length} of the dataset's ${n} items have no semantic ID in this index (e.g. ${eg}${missing.length > 5 ? ', ...' : ''}). ` +
        `The index must cover every item of the prepared dataset (ids as in the data files); regenerate it or use sid.method: rq-kmeans.`,
    );
  }
  const maxCode = new Array<number>(levels).fill(0);
  for (let i = 0; i < n; i++)
    for (let l = 0; l < levels; l++) if (codes[i * levels + l] > maxCode[l]) maxCode[l] = codes[i * levels + l];
  const sizes = maxCode.map((m) => (m < DEFAULT_FILE_CODEBOOK ? DEFAULT_FILE_CODEBOOK : m + 1));
  const d = dedup(codes, n, levels, sizes);
  return {
    sids: {
      levels: d.levels,
      codebookSizes: d.codebookSizes,
      codes: d.codes,
      stats: {
        method: 'file',
        embedding: null,
        levels: d.levels,
        codebookSizes: d.codebookSizes,
        dedupLevel: d.dedupLevel,
        collisionRate: d.collisionRate,
        maxCollisionGroup: d.maxCollisionGroup,
        codebookUsage: d.codebookUsage,
      },
    },
    extraItems: tuples.size - n,
  };
}
