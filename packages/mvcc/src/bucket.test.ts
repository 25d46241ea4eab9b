import { describe, expect, it } from 'vitest';
import { MvccError } from './errors.js';
import { MvccStore } from './kvstore.js';
import { dec, enc, openStore, tempDir, track } from './test-support/helpers.js';

describe('buckets', () => {
  it('commit with the key space and its consistent index, and survive a reopen', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir });
    const leases = s.bucket('lease');
    leases.put(enc('a'), enc('1'));
    leases.put(enc('b'), enc('2'));
    s.put({ key: enc('k'), value: enc('v') }, 1);
    expect([...leases.loadAll()]).toEqual([]); // staged until the commit
    await s.commit();
    leases.delete(enc('a'));
    s.bucket('other').put(enc('a'), enc('x'));
    s.setConsistentIndex(2);
    await s.commit();
    await s.flushed();
    await s.close();

    const again = track(await MvccStore.open({ dir }));
    expect(again.consistentIndex).toBe(2);
    expect([...again.bucket('lease').loadAll()].map((r) => [dec(r.key), dec(r.value)])).toEqual([['b', '2']]);
    expect([...again.bucket('other').loadAll()].map((r) => [dec(r.key), dec(r.value)])).toEqual([['a', 'x']]);
  });

  it('keeps keys of any bytes apart per bucket', async () => {
    const dir = tempDir();
    const s = await MvccStore.open({ dir });
    s.bucket('b').put(Uint8Array.of(0xff, 0xff), enc('high'));
    s.bucket('b').put(Uint8Array.of(0), enc('low'));
    s.bucket('b0').put(enc('x'), enc('other bucket'));
    s.bucket('a').put(enc('x'), enc('another'));
    await s.close();
    const again = track(await MvccStore.open({ dir }));
    expect([...again.bucket('b').loadAll()].map((r) => [[...r.key], dec(r.value)])).toEqual([
      [[0], 'low'],
      [[0xff, 0xff], 'high'],
    ]);
  });

  it('refuses bad names', async () => {
    const s = await openStore();
    expect(() => s.bucket('a/b')).toThrow(RangeError);
  });
});

describe('lease checker', () => {
  it('refuses a txn whose taken branch puts an unknown lease, before any change', async () => {
    const s = await openStore();
    s.setLeaseChecker((lease) => lease === 7n);
    const rev = s.currentRevision;
    let index = 10;
    const txn = (lease: bigint, taken: boolean) => s.txn({
      compare: [{ key: enc('c'), target: 'version', result: taken ? 'equal' : 'greater', version: 0 }],
      success: [{ put: { key: enc('x'), value: enc('1') } }, { put: { key: enc('y'), value: enc('2'), lease } }],
      failure: [],
    }, index++);
    expect(() => txn(8n, true)).toThrow(MvccError);
    try { txn(9n, true); } catch (err) { expect((err as MvccError).code).toBe('lease_not_found'); }
    expect(s.currentRevision).toBe(rev);
    expect(txn(8n, false).succeeded).toBe(false); // the untaken branch is not checked
    expect(txn(7n, true).succeeded).toBe(true);
    expect(s.range({ key: enc('y') }).kvs[0]!.lease).toBe(7n);
  });
});
