import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so that equal values hash equally whatever their key order. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Short content hash (hex, 12 chars = 48 bits) of any JSON-able value. */
export function hashOf(v: unknown, length = 12): string {
  return createHash('sha256').update(stableStringify(v)).digest('hex').slice(0, length);
}
