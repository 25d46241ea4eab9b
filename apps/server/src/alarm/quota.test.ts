import { EtcdErrors, etcdserverpb } from '@raftkv/api';
import { describe, expect, it } from 'vitest';
import { putRequest, txnRequest } from '@raftkv/testkit';
import type { Logger } from '../logger.js';
import { AlarmStore } from './alarm-store.js';
import {
  costTxn, DEFAULT_QUOTA_BYTES, effectiveQuotaBytes, fitsQuota, humanizeBytes, QuotaGuard, requestCost, type QuotaRequest,
} from './quota.js';

const put = (key: number, value: number) => putRequest({ key: Buffer.alloc(key), value: Buffer.alloc(value) });
const op = (key: number, value: number): etcdserverpb.RequestOp => ({ requestPut: put(key, value) });

describe('quota arithmetic (etcd 3.4 quota.go)', () => {
  it.each<[string, QuotaRequest, number]>([
    ['put: 256 + key + value', { kind: 'put', put: put(3, 100) }, 359],
    ['empty put', { kind: 'put', put: put(0, 0) }, 256],
    ['lease grant', { kind: 'leaseGrant' }, 64],
    ['txn: the dearer branch', { kind: 'txn', txn: txnRequest({ success: [op(1, 1)], failure: [op(1, 1), op(2, 2)] }) }, 258 + 260],
    ['txn without puts', { kind: 'txn', txn: txnRequest({ success: [{ requestDeleteRange: { key: Buffer.from('a'), rangeEnd: Buffer.alloc(0), prevKv: false } }] }) }, 0],
    ['txn with a nested put (not counted by etcd 3.4)', { kind: 'txn', txn: txnRequest({ success: [{ requestTxn: txnRequest({ success: [op(5, 5)] }) }] }) }, 0],
  ])('%s', (_name, req, cost) => expect(requestCost(req)).toBe(cost));

  it('costTxn sums the puts of one branch', () => {
    expect(costTxn(txnRequest({ success: [op(1, 0), op(1, 0), op(1, 0)] }))).toBe(3 * 257);
  });

  it.each<[number, number, number, boolean]>([
    [100, 0, 100, true], // costs nothing: always fits, even over the quota
    [0, 99, 100, true],
    [1, 99, 100, false], // size + cost must stay strictly below the quota
    [50, 49, 100, true],
    [200, 1, 100, false],
  ])('size %i + cost %i under quota %i: %s', (size, cost, quota, fits) => expect(fitsQuota(size, cost, quota)).toBe(fits));

  it.each<[number, number]>([
    [0, DEFAULT_QUOTA_BYTES], [-1, Infinity], [16 * 1024 * 1024, 16 * 1024 * 1024], [10 * 1024 ** 3, 10 * 1024 ** 3],
  ])('--quota-backend-bytes %i is a quota of %d bytes', (flag, bytes) => expect(effectiveQuotaBytes(flag)).toBe(bytes));

  // go-humanize's Bytes, as in etcd's log lines.
  it.each<[number, string]>([
    [5, '5 B'], [16 * 1024 * 1024, '17 MB'], [2 * 1024 ** 3, '2.1 GB'], [8 * 1024 ** 3, '8.6 GB'], [1000, '1.0 kB'], [999_999, '1000 kB'] // go-humanize rounds after picking the unit,
  ])('humanizeBytes(%i) = %s', (n, text) => expect(humanizeBytes(n)).toBe(text));
});

function memoryBucket() {
  const records = new Map<string, Uint8Array>();
  return {
    put: (k: Uint8Array, v: Uint8Array) => void records.set(Buffer.from(k).toString('hex'), v),
    delete: (k: Uint8Array) => void records.delete(Buffer.from(k).toString('hex')),
    *loadAll() { for (const [k, value] of records) yield { key: Buffer.from(k, 'hex'), value }; },
  };
}

function recordingLog(): Logger & { lines: Array<[string, string, Record<string, unknown> | undefined]> } {
  const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push([level, msg, fields]);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('QuotaGuard', () => {
  const guard = (quotaFlagBytes: number, size: number) => {
    const alarms = new AlarmStore(memoryBucket());
    const log = recordingLog();
    let raised = 0;
    const g = new QuotaGuard({
      quotaFlagBytes, sizeBytes: () => size, compactableRevisions: () => 41, alarms, memberId: 7n, log,
      raiseNoSpace: async () => {
        raised++;
        // Applied later, as through the log.
        await new Promise((r) => setImmediate(r));
        alarms.activate(7n, etcdserverpb.AlarmType.NOSPACE);
      },
    });
    return { g, log, alarms, raised: () => raised };
  };

  it('logs the quota as etcd does at start, and warns above 8 GiB', () => {
    expect(guard(0, 0).log.lines.map((l) => l[1])).toEqual(['enabled backend quota with default value']);
    expect(guard(9 * 1024 ** 3, 0).log.lines.map((l) => l[1])).toEqual(['quota exceeds the maximum value', 'enabled backend quota']);
    expect(guard(-1, 0).log.lines.map((l) => l[1])).toEqual(['disabled backend quota']);
  });

  it('lets requests that fit through, and any request when the quota is disabled', () => {
    expect(guard(1000, 500).g.available({ kind: 'put', put: put(10, 10) })).toBe(true);
    expect(guard(1000, 900).g.available({ kind: 'put', put: put(10, 10) })).toBe(false);
    expect(guard(-1, 2 ** 50).g.available({ kind: 'put', put: put(10, 10) })).toBe(true);
  });

  it('admits on a size at most 100 ms old, and measures afresh before refusing', () => {
    let size = 500;
    let measured = 0;
    let now = 0;
    const g = new QuotaGuard({
      quotaFlagBytes: 1000, sizeBytes: () => (measured++, size), compactableRevisions: () => 0, alarms: new AlarmStore(memoryBucket()),
      memberId: 1n, log: recordingLog(), raiseNoSpace: async () => {}, nowMs: () => now,
    });
    const req: QuotaRequest = { kind: 'put', put: put(0, 0) }; // costs 256
    expect(g.available(req)).toBe(true);
    size = 900;
    expect(g.available(req)).toBe(true); // within 100 ms: the size of the last measure
    expect(measured).toBe(1);
    now = 100;
    expect(g.available(req)).toBe(false);
    size = 100; // compaction freed pages: the stale size would refuse, a fresh one admits
    now = 150;
    expect(g.available(req)).toBe(true);
    expect(measured).toBe(4);
  });

  it('refuses with NoSpace, raising the alarm once (etcd proposes one per refused request) with a recovery hint', async () => {
    const { g, log, raised } = guard(1000, 2000);
    // Refused together, before the alarm is applied: one proposal.
    await Promise.all([expect(g.refuse()).rejects.toBe(EtcdErrors.NoSpace), expect(g.refuse()).rejects.toBe(EtcdErrors.NoSpace)]);
    await expect(g.refuse()).rejects.toBe(EtcdErrors.NoSpace);
    expect(raised()).toBe(1);
    const warn = log.lines.filter((l) => l[0] === 'warn');
    expect(warn).toHaveLength(1);
    expect(warn[0]![2]).toMatchObject({ 'quota-size-bytes': 1000, 'backend-size-in-use-bytes': 2000, 'compactable-revisions': 41 });
  });
});
