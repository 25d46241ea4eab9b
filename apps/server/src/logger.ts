import { pino, multistream, destination, type DestinationStream, type Logger as PinoLogger } from 'pino';

/** Log levels as etcd names them. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Where lines go: one function (tests), or etcd's --log-outputs values ('default', 'stderr', 'stdout', file paths). */
export type LogOutputs = ((line: string) => void) | readonly string[];

// pino's numbers for etcd's levels; etcd's zap has a panic level between error and fatal.
const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, panic: 55, fatal: 60 };

/** Member and lease IDs are printed in hex (as etcd prints them); errors by their message. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString(16);
  if (value instanceof Error) return value.message;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

/**
 * Synchronous writes: a line logged just before process.exit (a refused start, a fatal error)
 * must not be lost in a buffer. Files are appended to, as zap does.
 */
function destinationOf(output: string): DestinationStream {
  switch (output) {
    case 'default':
    case 'stderr': return destination({ dest: 2, sync: true });
    case 'stdout': return destination({ dest: 1, sync: true });
    default: return destination({ dest: output, sync: true, append: true, mkdir: false });
  }
}

function streamOf(outputs: LogOutputs): DestinationStream {
  if (typeof outputs === 'function') return { write: (line: string) => outputs(line) };
  const streams = [...new Set(outputs)].map(destinationOf);
  return streams.length === 1 ? streams[0]! : multistream(streams.map((stream) => ({ stream, level: LEVELS.debug })));
}

/**
 * 'json': lines shaped like etcd's zap logger output ({"level","ts","msg",...fields}), so log
 * tooling reads both. 'text': capnslog's pretty lines, for operators who ask for etcd 3.4's
 * `--logger=capnslog` by name.
 */
export type LogFormat = 'json' | 'text';

/** The message comes before the fields, as zap writes it. */
export function createLogger(level: LogLevel, outputs: LogOutputs = ['default'], format: LogFormat = 'json'): Logger {
  if (format === 'text') return createTextLogger(level, streamOf(outputs));
  const logger: PinoLogger<'panic'> = pino<'panic'>(
    {
      level,
      customLevels: { panic: LEVELS.panic },
      base: null,
      formatters: { level: (label) => ({ level: label }) },
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    },
    streamOf(outputs),
  );
  const at = (lvl: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: Record<string, unknown>) => {
    if (!logger.isLevelEnabled(lvl)) return;
    logger[lvl](fields === undefined ? { msg } : { msg, ...(plain(fields) as Record<string, unknown>) });
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

// capnslog's level letters (its CRITICAL and NOTICE have no callers here).
const LETTERS: Record<'debug' | 'info' | 'warn' | 'error', string> = { debug: 'D', info: 'I', warn: 'W', error: 'E' };

function textOf(value: unknown): string {
  const v = plain(value);
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** capnslog's PrettyFormatter: local time to the microsecond, the level's letter, the package. */
export function capnslogLine(now: Date, lvl: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): string {
  const ts = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(now.getMilliseconds(), 3)}000`;
  const rest = fields === undefined ? '' : Object.entries(fields).map(([k, v]) => ` ${k}=${textOf(v)}`).join('');
  return `${ts} ${LETTERS[lvl]} | raftkv: ${msg}${rest}\n`;
}

function createTextLogger(level: LogLevel, stream: DestinationStream): Logger {
  const threshold = LEVELS[level];
  const at = (lvl: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < threshold) return;
    stream.write(capnslogLine(new Date(), lvl, msg, fields));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
