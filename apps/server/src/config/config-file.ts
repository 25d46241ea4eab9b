/**
 * etcd's YAML config file (`--config-file`). Top-level keys are the flag names; TLS
 * settings sit in nested `client-transport-security` / `peer-transport-security`
 * maps. Value shapes follow etcd's Go struct: durations are integers of nanoseconds
 * (a Go duration string such as "5s" is also accepted), lists are YAML sequences or
 * comma-separated strings, URL lists are comma-separated strings.
 *
 * etcd silently drops keys it does not know; raftkv reports them as warnings.
 */
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { FLAGS, isFlagName, type FlagName } from './flags.js';

/** Larger files are refused: a limit on everything. */
export const MAX_CONFIG_FILE_BYTES = 1 << 20;

const SECURITY_SECTIONS = {
  'client-transport-security': {
    'cert-file': 'cert-file',
    'key-file': 'key-file',
    'client-cert-auth': 'client-cert-auth',
    'trusted-ca-file': 'trusted-ca-file',
    'auto-tls': 'auto-tls',
  },
  'peer-transport-security': {
    'cert-file': 'peer-cert-file',
    'key-file': 'peer-key-file',
    'client-cert-auth': 'peer-client-cert-auth',
    'trusted-ca-file': 'peer-trusted-ca-file',
    'auto-tls': 'peer-auto-tls',
  },
} as const satisfies Record<string, Record<string, FlagName>>;

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const yamlValue = z.union([scalar, z.null(), z.array(scalar)]);
const document = z.union([z.null(), z.record(z.string(), z.unknown())]);

export interface ConfigFileSettings {
  /** Raw flag text per key found, ready for the flag's own parser. */
  readonly set: Map<FlagName, string>;
  readonly warnings: string[];
}

/** Parses the file's text. Throws {@link ConfigError} naming the file and the key. */
export function readConfigFile(path: string, text: string): ConfigFileSettings {
  const fail = (message: string, flag?: string): never => {
    throw new ConfigError(`config file ${path}: ${message}`, flag === undefined ? { code: 'config-file' } : { code: 'invalid-value', flag });
  };
  if (Buffer.byteLength(text) > MAX_CONFIG_FILE_BYTES) fail(`larger than ${MAX_CONFIG_FILE_BYTES} bytes`);
  let raw: unknown;
  try {
    // Required here, not imported: only --config-file needs the YAML parser (~0.1 s to load).
    const { parse: parseYaml } = createRequire(import.meta.url)('yaml') as typeof Yaml;
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    fail(`not valid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  const top = document.safeParse(raw);
  if (!top.success) return fail('expected a mapping of option names to values');
  const set = new Map<FlagName, string>();
  const warnings: string[] = [];

  const take = (key: string, flag: FlagName, value: unknown): void => {
    const shaped = yamlValue.safeParse(value);
    if (!shaped.success) return void fail(`key "${key}" must be a scalar or a list of scalars`, flag);
    const text = toFlagText(key, flag, shaped.data, fail);
    if (text === undefined) return;
    const parsed = FLAGS[flag].schema.safeParse(text);
    if (!parsed.success) fail(`invalid value "${text}" for key "${key}": ${parsed.error.issues[0]?.message ?? 'parse error'}`, flag);
    set.set(flag, text);
  };

  for (const [key, value] of Object.entries(top.data ?? {})) {
    if (key in SECURITY_SECTIONS) {
      const section = SECURITY_SECTIONS[key as keyof typeof SECURITY_SECTIONS];
      if (value === null || value === undefined) continue;
      const inner = z.record(z.string(), z.unknown()).safeParse(value);
      if (!inner.success) return fail(`key "${key}" must be a mapping`);
      for (const [innerKey, innerValue] of Object.entries(inner.data)) {
        const flag = (section as Record<string, FlagName>)[innerKey];
        if (flag === undefined) warnings.push(`config file ${path}: unrecognized key "${key}.${innerKey}" ignored`);
        else take(`${key}.${innerKey}`, flag, innerValue);
      }
      continue;
    }
    if (!isFlagName(key) || !FLAGS[key].fileKey) {
      warnings.push(`config file ${path}: unrecognized key "${key}" ignored`);
      continue;
    }
    take(key, key, value);
  }
  return { set, warnings };
}

/** YAML value → the text the flag would take on a command line; undefined = unset. */
function toFlagText(key: string, flag: FlagName, value: z.output<typeof yamlValue>, fail: (message: string, flag?: string) => never): string | undefined {
  if (value === null) return undefined;
  const kind = FLAGS[flag].kind;
  if (Array.isArray(value)) {
    if (kind !== 'list' && kind !== 'urls') fail(`key "${key}" takes a single value, not a list`, flag);
    return value.map(String).join(',');
  }
  if (kind === 'duration' && typeof value === 'number') {
    // Go's time.Duration decodes from JSON as an integer count of nanoseconds.
    if (!Number.isInteger(value)) fail(`key "${key}" must be an integer number of nanoseconds or a duration string, got ${value}`, flag);
    return `${value}ns`;
  }
  // etcd treats an empty initial-cluster-state in a file as 'new'.
  if (flag === 'initial-cluster-state' && value === '') return undefined;
  return String(value);
}
