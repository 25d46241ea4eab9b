import { describe, expect, test } from 'vitest';
import {
  goDuration,
  parseDecimalUint32,
  parseEtcdUrl,
  parseEtcdUrlList,
  parseGoBool,
  parseGoDurationMs,
  parseGoInt,
  parseGoUint,
  parseInitialCluster,
  splitHostPort,
} from './go-values.js';

describe('parseGoBool accepts exactly strconv.ParseBool', () => {
  test.each([
    ['1', true], ['t', true], ['T', true], ['TRUE', true], ['true', true], ['True', true],
    ['0', false], ['f', false], ['F', false], ['FALSE', false], ['false', false], ['False', false],
  ])('%s → %s', (text, expected) => expect(parseGoBool(text)).toBe(expected));
  test.each(['yes', 'no', 'tRUE', '', ' true', '2'])('rejects %j', (text) => expect(() => parseGoBool(text)).toThrow('parse error'));
});

describe('parseGoUint uses Go base-0 syntax', () => {
  test.each([
    ['0', 0], ['100', 100], ['0x10', 16], ['0X1f', 31], ['010', 8], ['0o17', 15], ['0b101', 5], ['1_000', 1000], ['0x_ff', 255],
  ])('%s → %d', (text, expected) => expect(parseGoUint(text)).toBe(expected));
  test.each(['', '-1', '+1', '1k', '1.5', '08', '1__0', '_1', '1_', '0x', ' 1'])('rejects %j', (text) => expect(() => parseGoUint(text)).toThrow());
  test('enforces the bound', () => {
    expect(parseGoUint('31', 31)).toBe(31);
    expect(() => parseGoUint('32', 31)).toThrow('value out of range (at most 31)');
    expect(() => parseGoUint('18446744073709551615')).toThrow('value out of range');
  });
});

describe('parseGoInt', () => {
  test.each([['-5', -5], ['+5', 5], ['0x10', 16], ['-0x10', -16], ['0', 0]])('%s → %d', (text, expected) => expect(parseGoInt(text)).toBe(expected));
  test.each(['', '--1', '1e3', 'abc'])('rejects %j', (text) => expect(() => parseGoInt(text)).toThrow());
});

describe('parseDecimalUint32 (max-concurrent-streams) is base 10 only', () => {
  test('accepts the uint32 range', () => {
    expect(parseDecimalUint32('4294967295')).toBe(4294967295);
    expect(parseDecimalUint32('0')).toBe(0);
  });
  test.each(['4294967296', '0x10', '-1', ''])('rejects %j', (text) => expect(() => parseDecimalUint32(text)).toThrow(/strconv.ParseUint/));
});

describe('parseGoDurationMs follows time.ParseDuration', () => {
  test.each([
    ['0', 0], ['0s', 0], ['5s', 5000], ['2h', 7_200_000], ['10m', 600_000], ['100ms', 100], ['1.5h', 5_400_000],
    ['1h30m', 5_400_000], ['500us', 0.5], ['500µs', 0.5], ['1000000ns', 1], ['+1s', 1000], ['.5s', 500], ['1.s', 1000],
  ])('%s → %d ms', (text, expected) => expect(parseGoDurationMs(text)).toBeCloseTo(expected, 9));
  test.each([
    ['5', 'missing unit'], ['', 'invalid duration'], ['1d', 'unknown unit "d"'], ['s', 'invalid duration'], ['.s', 'invalid duration'],
    ['-1s', 'must not be negative'], ['1s2', 'missing unit'],
  ])('rejects %j (%s)', (text, message) => expect(() => parseGoDurationMs(text)).toThrow(message));
});

describe('splitHostPort follows net.SplitHostPort', () => {
  test.each([
    ['localhost:2379', 'localhost', '2379'], ['[::1]:2379', '::1', '2379'], ['1.2.3.4:', '1.2.3.4', ''], [':2380', '', '2380'],
  ])('%s', (text, host, port) => expect(splitHostPort(text)).toEqual({ host, port }));
  test.each(['localhost', '::1:2379', '[::1]', '[::1]x:1', '[::1'])('rejects %j', (text) => expect(() => splitHostPort(text)).toThrow());
});

describe('parseEtcdUrl uses the messages of etcd types.NewURLs', () => {
  test.each([
    ['http://127.0.0.1:2379', 'http:', '127.0.0.1', '2379'],
    ['https://example.com:443', 'https:', 'example.com', ''],
    [' http://[::1]:2380 ', 'http:', '[::1]', '2380'],
    ['unix://localhost:1234', 'unix:', 'localhost', '1234'],
    ['unixs://localhost:1234', 'unixs:', 'localhost', '1234'],
  ])('%s', (text, protocol, hostname, port) => {
    const url = parseEtcdUrl(text);
    expect([url.protocol, url.hostname, url.port]).toEqual([protocol, hostname, port]);
  });
  test.each([
    ['foo://1.2.3.4:1', 'URL scheme must be http, https, unix, or unixs: foo://1.2.3.4:1'],
    ['1.2.3.4:1', 'URL scheme must be http, https, unix, or unixs: 1.2.3.4:1'],
    ['', 'URL scheme must be http, https, unix, or unixs: '],
    ['http://1.2.3.4', 'URL address does not have the form "host:port": http://1.2.3.4'],
    ['http://1.2.3.4:1/path', 'URL must not contain a path: http://1.2.3.4:1/path'],
    ['http://1.2.3.4:1/', 'URL must not contain a path: http://1.2.3.4:1/'],
    ['http://1.2.3.4:1?x=1', 'URL must not contain a query or fragment'],
    ['http://u@1.2.3.4:1', 'must not contain user information'],
  ])('rejects %j', (text, message) => expect(() => parseEtcdUrl(text)).toThrow(message));
});

describe('parseEtcdUrlList', () => {
  test('sorts by text and drops duplicates, as etcd does', () => {
    expect(parseEtcdUrlList('http://b:1,http://a:1,http://b:1').map((u) => u.href)).toEqual(['http://a:1/', 'http://b:1/']);
  });
  test('empty text is the empty list', () => expect(parseEtcdUrlList('')).toEqual([]));
  test('rejects a bad member of the list', () => expect(() => parseEtcdUrlList('http://a:1,http://b')).toThrow('http://b'));
  test('bounds the list length', () => expect(() => parseEtcdUrlList(Array.from({ length: 65 }, (_, i) => `http://h:${i}`).join(','))).toThrow('too many URLs'));
});

describe('parseInitialCluster follows types.NewURLsMap', () => {
  test('groups repeated names, keeps first-appearance order, skips empty items', () => {
    const members = parseInitialCluster('n2=http://10.0.0.2:2380,,n1=http://10.0.0.1:2380,n2=http://10.0.1.2:2380');
    expect(members.map((m) => [m.name, m.peerUrls.map((u) => u.host)])).toEqual([
      ['n2', ['10.0.0.2:2380', '10.0.1.2:2380']],
      ['n1', ['10.0.0.1:2380']],
    ]);
  });
  test('the empty string is an empty cluster', () => expect(parseInitialCluster('')).toEqual([]));
  test.each([
    ['n1=foo', 'URL scheme must be http, https, unix, or unixs: foo'],
    ['n1', 'URL scheme must be'],
    ['n1=http://a', 'does not have the form "host:port"'],
  ])('rejects %j', (text, message) => expect(() => parseInitialCluster(text)).toThrow(message));
});

describe('goDuration prints what Go prints, below a millisecond too', () => {
  test.each<[number, string]>([[0.000001, '1ns'], [0.0008, '800ns'], [0.25, '250µs'], [120.25, '120.25ms'], [100, '100ms'], [1500, '1.5s']])(
    'goDuration(%d) = %s', (ms, text) => expect(goDuration(ms)).toBe(text));
});
