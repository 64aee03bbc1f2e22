/**
 * docs/CONFIG.md is generated from the schema (`npm run docs`), so the reference cannot drift
 * from the validation; a test fails when the committed file is stale.
 */
import { z } from 'zod';
import { PATH_KEYS, configSchema } from './schema.js';

interface JsonSchema {
  type?: string;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
}

function typeOf(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  let t = s.type === 'array' ? `list of ${s.items ? typeOf(s.items) : 'values'}` : (s.type ?? 'any');
  const lo = s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : s.minimum !== undefined ? `≥ ${s.minimum}` : '';
  const hi = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${s.maximum}` : '';
  if (lo || hi) t += ` (${[lo, hi].filter(Boolean).join(', ')})`;
  return t;
}

function rows(s: JsonSchema, prefix: string, out: string[]): void {
  for (const [key, sub] of Object.entries(s.properties ?? {})) {
    const dot = prefix ? `${prefix}.${key}` : key;
    if (sub.type === 'object' && sub.properties) {
      out.push(`| **${dot}** | | | ${sub.description ?? ''} |`);
      rows(sub, dot, out);
    } else {
      const def = sub.default === undefined ? '(none)' : `\`${JSON.stringify(sub.default)}\``;
      out.push(`| \`${dot}\` | ${typeOf(sub)} | ${def} | ${sub.description ?? ''} |`);
    }
  }
}

export function configReference(): string {
  const js = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out = [
    '# Configuration reference',
    '',
    '<!-- generated from src/config/schema.ts by `npm run docs`; do not edit by hand -->',
    '',
    'Every key, its type, range and default. A config file sets any subset; `--set a.b=value`',
    'overrides one key (the value is read as YAML); `extends: base.yaml` merges a base file first,',
    'which may itself extend another (a study over its SFT recipe over the dataset\'s config; the',
    'nearer file wins, at most 8 files, no cycles). Unknown keys, wrong types and out-of-range values',
    'are errors, reported together with their dot path and line. `adagrpo train --config X --dry-run`',
    'prints the resolved config.',
    '',
    '## Paths',
    '',
    'A relative path written in a config file resolves against the folder of that file, so a config',
    'works from any working directory: `data: { csv: { path: logs.csv } }` in `exp/my.yaml` reads',
    '`exp/logs.csv`. A key that comes from an `extends` base resolves against the base file\'s folder.',
    'A path given with `--set` resolves against the working directory, like every command-line path;',
    'so do the defaults (`runsDir: runs`, `data.processedDir: data/processed`). The run folder\'s',
    '`config.yaml` records the resolved, absolute paths. Path keys:',
    PATH_KEYS.map((k) => `\`${k}\``).join(', ') + '.',
    '',
    '## Keys',
    '',
    '| key | type | default | meaning |',
    '|---|---|---|---|',
  ];
  rows(js, '', out);
  return out.join('\n') + '\n';
}
