/**
 * Environment variables, mapped the way etcd maps them: flag `--initial-cluster`
 * is `ETCD_INITIAL_CLUSTER`. `RAFTKV_INITIAL_CLUSTER` is accepted as an alias.
 *
 * etcd's rules, kept: an empty variable counts as unset; a variable whose flag is also
 * on the command line is a fatal conflict (etcd does not pick a winner); unknown
 * variables with the prefix are reported, not fatal.
 */
import { ConfigError } from './config-error.js';
import { FLAG_NAMES, FLAGS, IGNORED_LEGACY_FLAGS, type FlagName } from './flags.js';

export const ENV_PREFIXES = ['ETCD', 'RAFTKV'] as const;

/** `initial-cluster` → `ETCD_INITIAL_CLUSTER` (etcd's `flags.FlagToEnv`). */
export function flagToEnv(prefix: string, flag: string): string {
  return `${prefix}_${flag.replaceAll('-', '_').toUpperCase()}`;
}

/** Flags read before (or instead of) the environment pass. */
const NOT_FROM_ENV: ReadonlySet<FlagName> = new Set(['config-file', 'version']);

export interface EnvironmentSettings {
  /** Raw text per flag taken from the environment, with the variable it came from. */
  readonly set: Map<FlagName, { text: string; variable: string }>;
  readonly warnings: string[];
}

/**
 * Applies ETCD_* / RAFTKV_* to every flag not given on the command line.
 * Throws {@link ConfigError} on a flag/variable conflict or a value that does not parse.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>>, onCommandLine: ReadonlySet<FlagName>): EnvironmentSettings {
  const set = new Map<FlagName, { text: string; variable: string }>();
  const warnings: string[] = [];
  const known = new Set<string>();

  for (const prefix of ENV_PREFIXES) {
    known.add(flagToEnv(prefix, 'config-file'));
    known.add(flagToEnv(prefix, 'version'));
    for (const legacy of IGNORED_LEGACY_FLAGS) {
      const variable = flagToEnv(prefix, legacy);
      known.add(variable);
      if (env[variable]) warnings.push(`environment variable ${variable} is for a flag etcd no longer supports (--${legacy}); ignored`);
    }
  }

  for (const name of FLAG_NAMES) {
    if (NOT_FROM_ENV.has(name)) continue;
    const candidates = ENV_PREFIXES.map((prefix) => flagToEnv(prefix, name));
    candidates.forEach((variable) => known.add(variable));
    if (onCommandLine.has(name)) {
      const shadowed = candidates.find((variable) => env[variable] !== undefined);
      if (shadowed !== undefined) {
        throw new ConfigError(
          `conflicting environment variable "${shadowed}" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
          { code: 'invalid-config', flag: name },
        );
      }
      continue;
    }
    const given = candidates.flatMap((variable) => {
      const text = env[variable];
      return text === undefined || text === '' ? [] : [{ variable, text }];
    });
    const [first, second] = given;
    if (first === undefined) continue;
    if (second !== undefined && second.text !== first.text) {
      throw new ConfigError(`environment variables ${first.variable}="${first.text}" and ${second.variable}="${second.text}" disagree`, {
        code: 'invalid-config',
        flag: name,
      });
    }
    const parsed = FLAGS[name].schema.safeParse(first.text);
    if (!parsed.success) {
      const reason = parsed.error.issues[0]?.message ?? 'parse error';
      throw new ConfigError(`invalid value "${first.text}" for ${first.variable}: ${reason} (flag --${name})`, { code: 'invalid-value', flag: name });
    }
    set.set(name, first);
  }

  for (const [variable, text] of Object.entries(env)) {
    if (text === undefined || known.has(variable)) continue;
    if (ENV_PREFIXES.some((prefix) => variable.startsWith(`${prefix}_`))) {
      warnings.push(`unrecognized environment variable ${variable}=${text}`);
    }
  }
  return { set, warnings };
}
