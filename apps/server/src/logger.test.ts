// The logger writes etcd's zap-shaped JSON lines to --log-outputs, at --log-level and above.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capnslogLine, createLogger } from './logger.js';

const dir = mkdtempSync(join(tmpdir(), 'raftkv-logger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createLogger', () => {
  it('writes one JSON line per call: level, ts, msg, then the fields', () => {
    const lines: string[] = [];
    const log = createLogger('info', (line) => lines.push(line));
    log.info('member started', { id: 255n, peers: [16n], error: new Error('boom'), nested: { lease: 10n } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\{"level":"info","ts":"\d{4}-\d\d-\d\dT[\d:.]+Z","msg":"member started","id":"ff","peers":\["10"\],"error":"boom","nested":\{"lease":"a"\}\}\n$/);
  });

  it('drops lines below the level; panic keeps only panic and fatal', () => {
    const lines: string[] = [];
    const info = createLogger('info', (line) => lines.push(line));
    info.debug('hidden');
    info.warn('shown');
    const panic = createLogger('panic', (line) => lines.push(line));
    panic.error('hidden too');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });

  it('appends to every file of --log-outputs, synchronously (a line before process.exit is not lost)', () => {
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    createLogger('debug', [a]).info('first');
    const log = createLogger('debug', [a, b]);
    log.debug('second', { n: 2 });
    expect(readFileSync(a, 'utf8').trim().split('\n').map((l) => JSON.parse(l).msg)).toEqual(['first', 'second']);
    expect(JSON.parse(readFileSync(b, 'utf8'))).toMatchObject({ level: 'debug', msg: 'second', n: 2 });
  });

  it("writes capnslog's text lines when asked for them: local time, level letter, package, message, fields", () => {
    const lines: string[] = [];
    const log = createLogger('info', (line) => lines.push(line), 'text');
    log.debug('hidden');
    log.warn('rejected connection', { 'remote-addr': '127.0.0.1:5', id: 255n, error: 'bad certificate' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} W \| raftkv: rejected connection remote-addr=127\.0\.0\.1:5 id=ff error="bad certificate"\n$/);
    expect(capnslogLine(new Date(2026, 0, 2, 3, 4, 5, 67), 'info', 'ready')).toBe('2026-01-02 03:04:05.067000 I | raftkv: ready\n');
  });
});
