/**
 * Differential checks against the real etcd 3.4.23 binary, which must be on PATH
 * (Debian: `apt-get install -y etcd-server`). Only command lines that etcd rejects
 * during flag parsing are run, so no etcd server is ever started.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FLAGS, isFlagName } from './flags.js';
import { ConfigError, parseConfig } from './index.js';

let helpText = '';
const scratch = mkdtempSync(join(tmpdir(), 'raftkv-config-'));

function etcd(args: string[], env: Record<string, string> = {}): { status: number | null; output: string } {
  const result = spawnSync('etcd', args, {
    cwd: scratch,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (result.error !== undefined) {
    throw new Error(`real etcd 3.4.23 must be on PATH for this test (apt-get install -y etcd-server): ${result.error.message}`);
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

beforeAll(() => {
  const version = etcd(['--version']);
  expect(version.output, 'etcd on PATH must be 3.4.x').toMatch(/etcd Version: 3\.4\./);
  helpText = etcd(['--help']).output;
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Every `--flag` token in etcd's help, with the default it shows when it shows one. */
function etcdHelpFlags(): Map<string, string | undefined> {
  const flags = new Map<string, string | undefined>();
  for (const [, name = ''] of helpText.matchAll(/--([a-z][a-z0-9-]*)/g)) flags.set(name, undefined);
  for (const [, name = '', shown = ''] of helpText.matchAll(/^ {2}--([a-z][a-z0-9-]*) (.*)$/gm)) {
    flags.set(name, shown.replace(/^'(.*)'$/, '$1'));
  }
  return flags;
}

describe('every flag listed by `etcd --help` is recognised', () => {
  test('etcd --help lists a plausible number of flags', () => {
    expect(etcdHelpFlags().size).toBeGreaterThan(80);
  });

  test('each one parses (unknown-flag would be the failure)', () => {
    const unrecognised: string[] = [];
    for (const [name, shown] of etcdHelpFlags()) {
      try {
        parseConfig([`--${name}=${shown ?? 'true'}`], {}, { isDataDirInitialized: () => false, readFile: () => '' });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        if (error.code === 'unknown-flag') unrecognised.push(name);
      }
    }
    expect(unrecognised).toEqual([]);
  });

  test('the check can fail: a flag etcd does not have is unknown', () => {
    expect(() => parseConfig(['--not-an-etcd-flag=1'], {})).toThrow(expect.objectContaining({ code: 'unknown-flag' }));
  });

  // Where raftkv shows a different default on purpose, or etcd shows a Go expression.
  const DEFAULT_EXCEPTIONS: Record<string, string> = {
    'data-dir': 'raftkv: ${name}.raftkv',
    'max-concurrent-streams': "etcd shows 'math.MaxUint32' (4294967295)",
    'backend-batch-interval': "etcd shows '' for a zero duration",
  };

  test('the defaults etcd shows are the defaults raftkv uses', () => {
    const differences: string[] = [];
    let compared = 0;
    for (const [name, shown] of etcdHelpFlags()) {
      if (shown === undefined || name in DEFAULT_EXCEPTIONS || !isFlagName(name)) continue;
      compared++;
      const ours = FLAGS[name].defaultText;
      const same = ours === shown || JSON.stringify(FLAGS[name].schema.safeParse(ours).data) === JSON.stringify(FLAGS[name].schema.safeParse(shown).data);
      if (!same) differences.push(`--${name}: etcd '${shown}', raftkv '${ours}'`);
    }
    expect(differences).toEqual([]);
    expect(compared).toBeGreaterThan(70);
  });
});

/** The error line etcd printed, without log prefix, "error verifying flags, " and the help hint. */
function etcdErrorMessage(output: string): string {
  const line = output.split('\n').find((l) => / [EC] \| /.test(l) || /^(flag |invalid |bad flag)/.test(l)) ?? '';
  return line
    .replace(/^.* [EC] \| [a-z/]+: /, '')
    .replace(/^error verifying flags, /, '')
    .replace(/\. See 'etcd --help'\.$/, '');
}

describe('raftkv rejects what etcd rejects, with the same exit code', () => {
  test.each<[string, string[], Record<string, string>, 'same words'?]>([
    ['unknown flag', ['--bogus-flag'], {}, 'same words'],
    ['missing value', ['--name'], {}, 'same words'],
    ['bad URL scheme', ['--listen-client-urls=foo://1.2.3.4:1'], {}, 'same words'],
    ['URL without port', ['--listen-client-urls=http://1.2.3.4'], {}, 'same words'],
    ['URL with a path', ['--listen-peer-urls=http://1.2.3.4:1/x'], {}, 'same words'],
    ['bad enum', ['--initial-cluster-state=bad'], {}],
    ['bad boolean', ['--pre-vote=maybe'], {}, 'same words'],
    ['negative uint', ['--election-timeout=-1'], {}, 'same words'],
    ['size with a suffix', ['--max-request-bytes=1k'], {}, 'same words'],
    ['duration without a unit', ['--grpc-keepalive-min-time=5'], {}],
    ['stray argument', ['extra-arg'], {}, 'same words'],
    ['boolean followed by a value', ['--pre-vote', 'false'], {}, 'same words'],
    ['flag and variable both set', ['--name=y'], { ETCD_NAME: 'x' }, 'same words'],
    ['flag and empty variable both set', ['--name=y'], { ETCD_NAME: '' }, 'same words'],
    ['bad value in a variable', [], { ETCD_ELECTION_TIMEOUT: 'abc' }, 'same words'],
    ['election timeout below 5x heartbeat', ['--heartbeat-interval=100', '--election-timeout=400'], {}, 'same words'],
    ['election timeout above 50s', ['--election-timeout=60000'], {}, 'same words'],
    ['listen without advertise', ['--listen-client-urls=http://127.0.0.1:2379'], {}, 'same words'],
    ['host name in a listen URL', ['--listen-peer-urls=http://example.com:2380'], {}, 'same words'],
    ['discovery and initial cluster', ['--discovery=http://x:1', '--initial-cluster=a=http://localhost:2380'], {}, 'same words'],
    ['bad auto compaction mode', ['--auto-compaction-mode=x'], {}, 'same words'],
    ['empty listen URLs without advertise URLs', ['--listen-client-urls='], {}, 'same words'],
    ['bad logger', ['--logger=x'], {}, 'same words'],
    ['bad log output', ['--log-outputs=x'], {}, 'same words'],
    ['missing config file', ['--config-file=/nonexistent/raftkv.yml'], {}],
  ])('%s', (_case, argv, env, sameWords) => {
    const real = etcd(argv, env);
    let ours: ConfigError | undefined;
    try {
      parseConfig(argv, env, { isDataDirInitialized: () => false });
    } catch (error) {
      if (error instanceof ConfigError) ours = error;
      else throw error;
    }
    expect(ours, `raftkv accepted what etcd rejected:\n${real.output}`).toBeInstanceOf(ConfigError);
    expect(ours?.exitCode).toBe(real.status);
    // Same words as etcd, with Go's single-dash flag names written as --flag. The
    // others say more than etcd does (which values are valid, why a duration is bad).
    if (sameWords !== undefined) {
      const etcdMessage = etcdErrorMessage(real.output).replace(/(^|[ :])-([a-z])/g, '$1--$2');
      expect(etcdMessage, real.output).not.toBe('');
      expect(ours?.message).toContain(etcdMessage);
    }
  });

  test('etcd --version and raftkv --version exit normally', () => {
    expect(etcd(['--version']).status).toBe(0);
    expect(parseConfig(['--version'], {}).kind).toBe('version');
  });
});
