import { etcdserverpb } from '@raftkv/api';
import type { Bucket } from '@raftkv/mvcc';

const { AlarmType } = etcdserverpb;
type AlarmMember = etcdserverpb.AlarmMember;

const EMPTY = new Uint8Array(0);

/**
 * The cluster's raised alarms (etcd's v3alarm.AlarmStore): at most one alarm of each type per
 * member. Changed only by applying Alarm entries from the log, so every member holds the same
 * set at the same index. Kept in the backend's `alarm` bucket as etcd keeps it (the key is the
 * AlarmMember protobuf, the value empty), committed with the entry that changed it, so an
 * alarm survives restarts.
 */
export class AlarmStore {
  /** `${type}/${memberId}` → alarm, in the order they were raised. */
  private alarms = new Map<string, AlarmMember>();

  constructor(private readonly bucket: Bucket) {
    this.reload();
  }

  /** Rebuilds the set from the bucket (at open, and after a snapshot replaced the backend). */
  reload(): void {
    this.alarms.clear();
    for (const { key } of this.bucket.loadAll()) {
      const m = etcdserverpb.AlarmMember.decode(key);
      this.alarms.set(slot(m.memberID, m.alarm), m);
    }
  }

  /**
   * Raises `type` for `memberId`. Returns the alarm (the one already raised, if any) and
   * whether this raised the first alarm of that type (the cluster changes mode then).
   */
  activate(memberId: bigint, type: etcdserverpb.AlarmType): { alarm: AlarmMember; first: boolean } {
    const existing = this.alarms.get(slot(memberId, type));
    if (existing) return { alarm: existing, first: false };
    const first = !this.has(type);
    const alarm: AlarmMember = { memberID: memberId, alarm: type };
    this.alarms.set(slot(memberId, type), alarm);
    this.bucket.put(etcdserverpb.AlarmMember.encode(alarm).finish(), EMPTY);
    return { alarm, first };
  }

  /**
   * Clears `type` for `memberId`. Returns the cleared alarm (undefined if none was raised) and
   * whether it was the last alarm of that type.
   */
  deactivate(memberId: bigint, type: etcdserverpb.AlarmType): { alarm: AlarmMember; last: boolean } | undefined {
    const alarm = this.alarms.get(slot(memberId, type));
    if (!alarm) return undefined;
    this.alarms.delete(slot(memberId, type));
    this.bucket.delete(etcdserverpb.AlarmMember.encode(alarm).finish());
    return { alarm, last: !this.has(type) };
  }

  /** Alarms of `type`, or all of them for NONE; by type, then member ID. */
  get(type: etcdserverpb.AlarmType = AlarmType.NONE): AlarmMember[] {
    return [...this.alarms.values()]
      .filter((m) => type === AlarmType.NONE || m.alarm === type)
      .sort((a, b) => a.alarm - b.alarm || (a.memberID < b.memberID ? -1 : a.memberID > b.memberID ? 1 : 0));
  }

  has(type: etcdserverpb.AlarmType): boolean {
    for (const m of this.alarms.values()) if (m.alarm === type) return true;
    return false;
  }
}

function slot(memberId: bigint, type: etcdserverpb.AlarmType): string {
  return `${type}/${memberId}`;
}

/** etcd's name of an alarm type, as `etcdctl alarm list` prints it. */
export function alarmName(type: etcdserverpb.AlarmType): string {
  // Types etcd does not know print as their number (as gogo's text format does).
  return type >= AlarmType.NONE && type <= AlarmType.CORRUPT ? AlarmType[type] : String(type);
}
