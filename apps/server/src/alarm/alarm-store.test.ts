import { etcdserverpb } from '@raftkv/api';
import { MvccStore } from '@raftkv/mvcc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlarmStore } from './alarm-store.js';

const { AlarmType } = etcdserverpb;

describe('AlarmStore', () => {
  it('keeps one alarm per member and type, in the backend\'s alarm bucket keyed by the AlarmMember protobuf (as etcd)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alarm-store-'));
    try {
      const store = await MvccStore.open({ dir });
      const alarms = new AlarmStore(store.bucket('alarm'));
      expect(alarms.activate(2n, AlarmType.NOSPACE)).toEqual({ alarm: { memberID: 2n, alarm: AlarmType.NOSPACE }, first: true });
      expect(alarms.activate(1n, AlarmType.NOSPACE).first).toBe(false);
      expect(alarms.activate(1n, AlarmType.CORRUPT).first).toBe(true);
      expect(alarms.activate(2n, AlarmType.NOSPACE).first).toBe(false);
      expect(alarms.get()).toEqual([
        { memberID: 1n, alarm: AlarmType.NOSPACE }, { memberID: 2n, alarm: AlarmType.NOSPACE }, { memberID: 1n, alarm: AlarmType.CORRUPT },
      ]);
      expect(alarms.deactivate(2n, AlarmType.NOSPACE)?.last).toBe(false);
      expect(alarms.deactivate(2n, AlarmType.NOSPACE)).toBeUndefined();
      store.setConsistentIndex(1);
      await store.commit();
      await store.close();

      const reopened = await MvccStore.open({ dir });
      const bucket = reopened.bucket('alarm');
      const keys = [...bucket.loadAll()].map((r) => etcdserverpb.AlarmMember.decode(r.key));
      expect(keys).toHaveLength(2);
      const again = new AlarmStore(bucket);
      expect(again.get(AlarmType.NOSPACE)).toEqual([{ memberID: 1n, alarm: AlarmType.NOSPACE }]);
      expect(again.has(AlarmType.CORRUPT)).toBe(true);
      expect(again.deactivate(1n, AlarmType.CORRUPT)?.last).toBe(true);
      expect(again.has(AlarmType.CORRUPT)).toBe(false);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
