/**
 * The LC-Rec / LETTER layout: `*.inter.json` is `{"<user>": [item, ...]}` with each list in time
 * order (items as numbers or strings); the optional `*.item.json` is
 * `{"<item>": {title, description, brand, categories}}`. There are no timestamps: a user's
 * list position is the time.
 */
import fs from 'node:fs';
import { UserError } from '../../errors.js';
import { parseJsonFile } from '../../io/json.js';
import { decodeText } from './files.js';
import { RawLogBuilder, type SourceResult } from './raw.js';

/** Text fields of an item.json entry, in the order they are joined into the item's text. */
export const ITEM_TEXT_FIELDS = ['title', 'brand', 'categories', 'description'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function readSequencesJson(interPath: string, itemPath?: string): SourceResult {
  const raw = parseJsonFile(decodeText(fs.readFileSync(interPath)), interPath);
  if (!isObject(raw)) {
    throw new UserError(`${interPath}: expected a JSON object {"<user>": [item, ...]} (LC-Rec/LETTER *.inter.json), got ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  const b = new RawLogBuilder();
  for (const [user, items] of Object.entries(raw)) {
    if (!Array.isArray(items)) {
      throw new UserError(`${interPath}: user "${user}": expected an array of item ids in time order, got ${typeof items}`);
    }
    items.forEach((item, j) => {
      if (typeof item === 'number' ? !Number.isFinite(item) : typeof item !== 'string' || item === '') {
        throw new UserError(`${interPath}: user "${user}", position ${j}: item id must be a number or a non-empty string, got ${JSON.stringify(item)}`);
      }
      b.add(user, String(item), j);
    });
  }
  if (b.size === 0) throw new UserError(`${interPath}: no interactions (the object has no non-empty user lists)`);
  return { log: b.build(), itemText: itemPath ? readItemJson(itemPath) : null };
}

/** Item text: the known fields (ITEM_TEXT_FIELDS) that are non-empty strings, joined by " | ". */
export function readItemJson(itemPath: string): Map<string, string> {
  const raw = parseJsonFile(decodeText(fs.readFileSync(itemPath)), itemPath);
  if (!isObject(raw)) throw new UserError(`${itemPath}: expected a JSON object {"<item>": {title, description, ...}}`);
  const out = new Map<string, string>();
  for (const [item, v] of Object.entries(raw)) {
    if (typeof v === 'string') out.set(item, v);
    else if (isObject(v)) {
      const parts = ITEM_TEXT_FIELDS.map((f) => v[f]).filter((x): x is string => typeof x === 'string' && x.trim() !== '');
      out.set(item, parts.join(' | '));
    } else throw new UserError(`${itemPath}: item "${item}": expected an object {title, description, ...} or a string`);
  }
  return out;
}
