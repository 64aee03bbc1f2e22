import { stableStringify } from '../hash.js';

/**
 * Dot paths (sorted) where two config-like values differ: leaves are compared by value, lists as
 * wholes. Explains a refused resume, a refused --compare and a refused report.
 */
export function diffPaths(a: unknown, b: unknown, prefix = ''): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, at: string) => {
    const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (isObj(x) && isObj(y)) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) walk(x[k], y[k], at ? `${at}.${k}` : k);
    } else if (stableStringify(x) !== stableStringify(y)) {
      out.push(at);
    }
  };
  walk(a, b, prefix);
  return out.sort();
}
