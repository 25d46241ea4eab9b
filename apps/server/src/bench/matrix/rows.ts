// The matrix: every row and the group of rows that share one fresh server per side and round.
import type { etcdserverpb } from '@raftkv/api';
import type { EtcdClient } from '@raftkv/testkit';
import { probeMembers } from './member-probe.js';
import type { Target } from './targets.js';
import {
  closedLoop, connections, leaseGrants, leaseKeepAlives, loadKeys, rssBytes, watchFanOut, type Sample,
} from './workloads.js';

export type Unit = 'ops/s' | 'events/s' | 'ms' | 'bytes/key' | 'MiB';

export interface RowDef {
  /** Stable name, used by --rows, in the JSON and on the charts. */
  id: string;
  unit: Unit;
  /** Which way is better for the figure (latencies are always better lower). */
  better: 'higher' | 'lower';
  /** What the row does, in a sentence. */
  what: string;
}

export interface GroupSettings {
  cellSeconds: number;
  warmupSeconds: number;
  watchers: number[];
  /** Events per second asked of the server in a watch row (watchers × puts/s). */
  eventBudget: number;
  startupKeys: number;
  /** Value size of the key-value and start-up rows (256 by default). */
  valueBytes: number;
}

export interface GroupContext {
  settings: GroupSettings;
  /** Starts this side's fresh server (or cluster). The group stops it. */
  start(): Promise<Target>;
}

export interface GroupDef {
  id: string;
  rows: RowDef[];
  /** Runs the `wanted` rows (a non-empty subset of `rows`) on one fresh side; a sample per row. */
  run(ctx: GroupContext, wanted: ReadonlySet<string>): Promise<Map<string, Sample>>;
}

const key = (s: string) => Buffer.from(s);
const CONNECTIONS = 8;
const PUT_KEYS = 10_000;

const ops = (id: string, what: string): RowDef => ({ id, unit: 'ops/s', better: 'higher', what });

function kvRows(members: 1 | 3): RowDef[] {
  const rows: RowDef[] = [];
  for (const n of [1, 16, 128]) rows.push(ops(`put x${n}`, `puts over ${PUT_KEYS} keys, ${n} in flight, to the leader`));
  if (members === 3) {
    for (const n of [1, 16, 128]) rows.push(ops(`put x${n} via follower`, `the same puts sent to a follower, which forwards them`));
  }
  for (const n of [16, 128]) rows.push(ops(`get linearizable x${n}`, `single-key Range, default consistency (ReadIndex), ${n} in flight`));
  if (members === 3) rows.push(ops('get linearizable x128 via follower', 'the same linearizable gets on a follower'));
  for (const n of [16, 128]) rows.push(ops(`get serializable x${n}`, `single-key Range with serializable, ${n} in flight`));
  rows.push(ops('range 100 keys x16', 'Range over a prefix of 100 keys, 16 in flight'));
  rows.push(ops('txn cas x16', 'Txn: value compare-and-swap on a key per worker (always succeeds), 16 in flight'));
  rows.push(ops('mixed 90/10 x16', '9 linearizable gets to 1 put, 16 in flight'));
  return rows;
}

async function runKv(ctx: GroupContext, wanted: ReadonlySet<string>): Promise<Map<string, Sample>> {
  const { cellSeconds, warmupSeconds } = ctx.settings;
  const value = Buffer.alloc(ctx.settings.valueBytes, 'v');
  const target = await ctx.start();
  const all: EtcdClient[] = [];
  const out = new Map<string, Sample>();
  try {
    const toLeader = connections(target.leader, CONNECTIONS, target.creds);
    all.push(...toLeader);
    const toFollower = target.follower ? connections(target.follower, CONNECTIONS, target.creds) : [];
    all.push(...toFollower);
    const put = (c: EtcdClient, i: number) => c.put({ key: key(`bench/${i % PUT_KEYS}`), value });
    // Warm up (JIT, connections, peer streams, backend growth), the same for every side.
    await closedLoop(toLeader, 16, warmupSeconds, put);
    const leader = toLeader[0]!;
    await leader.put({ key: key('bench/get'), value });
    const rangeOps: etcdserverpb.RequestOp[] = Array.from({ length: 100 }, (_, i) => ({
      requestPut: { key: key(`range/${String(i).padStart(3, '0')}`), value, lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false },
    }));
    // Txns of at most ~1 MiB: 100 large values in one would pass --max-request-bytes.
    const perTxn = Math.max(1, Math.min(100, Math.floor(1_000_000 / (value.length + 64))));
    for (let i = 0; i < rangeOps.length; i += perTxn) await leader.txn({ success: rangeOps.slice(i, i + perTxn) });
    const casValue = new Map<number, number>();
    // Each cell first runs its own operation, unmeasured, the same on every side: a fresh
    // process's first ~1,000 gets cost raftkv 3-5x the CPU of later ones (V8 compiles the read
    // path on first use), and a cell that starts cold measures start-up, not steady state.
    const cellWarmup = Math.min(1, warmupSeconds / 2);
    // The members before and after each measured cell (term, leader, CPU, WAL fsyncs): what a slow
    // round was. Over TLS the probe's plain calls would not connect: none.
    const probe = target.creds === undefined;
    const cell = async (id: string, run: (seconds: number) => Promise<Sample>) => {
      if (!wanted.has(id)) return;
      if (cellWarmup > 0) await run(cellWarmup);
      const start = probe ? await probeMembers(target.memberRefs()) : undefined;
      const sample = await run(cellSeconds);
      if (start) sample.members = { start, end: await probeMembers(target.memberRefs()) };
      out.set(id, sample);
    };
    const get = (serializable: boolean) => (c: EtcdClient) => c.range({ key: key('bench/get'), serializable });
    for (const n of [1, 16, 128]) await cell(`put x${n}`, (s) => closedLoop(toLeader, n, s, put));
    for (const n of [1, 16, 128]) await cell(`put x${n} via follower`, (s) => closedLoop(toFollower, n, s, put));
    for (const n of [16, 128]) await cell(`get linearizable x${n}`, (s) => closedLoop(toLeader, n, s, get(false)));
    await cell('get linearizable x128 via follower', (s) => closedLoop(toFollower, 128, s, get(false)));
    for (const n of [16, 128]) await cell(`get serializable x${n}`, (s) => closedLoop(toLeader, n, s, get(true)));
    await cell('range 100 keys x16', (s) => closedLoop(toLeader, 16, s, async (c) => {
      const res = await c.range({ key: key('range/'), rangeEnd: key('range0') });
      if (res.kvs.length !== 100) throw new Error(`range returned ${res.kvs.length} keys`);
    }));
    await cell('txn cas x16', (s) => closedLoop(toLeader, 16, s, async (c, _i, w) => {
      const k = key(`cas/${w}`);
      const seen = casValue.get(w);
      const res = await c.txn({
        // Compare value == last written (or the key is absent: version 0), then write the next value.
        compare: [seen === undefined
          ? { result: 0, target: 0, key: k, version: 0n, rangeEnd: Buffer.alloc(0) }
          : { result: 0, target: 3, key: k, value: key(String(seen)), rangeEnd: Buffer.alloc(0) }],
        success: [{ requestPut: { key: k, value: key(String((seen ?? 0) + 1)), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } }],
      });
      if (!res.succeeded) throw new Error('compare-and-swap failed');
      casValue.set(w, (seen ?? 0) + 1);
    }));
    await cell('mixed 90/10 x16', (s) => closedLoop(toLeader, 16, s, (c, i) =>
      (i % 10 === 0 ? put(c, i) : c.range({ key: key(`bench/${i % PUT_KEYS}`) }))));
  } finally {
    for (const c of all) c.close();
    await target.close();
  }
  return out;
}

function watchGroup(watchers: number): GroupDef {
  const id = `watch ${watchers} watchers`;
  return {
    id,
    rows: [{ id, unit: 'events/s', better: 'higher', what: `${watchers} watchers on one prefix, a writer at (event budget / watchers) puts/s, after a warm-up at that rate whose events are not counted; events delivered per second, put → event latency` }],
    run: async (ctx) => {
      const target = await ctx.start();
      try {
        const { cellSeconds, eventBudget, warmupSeconds } = ctx.settings;
        return new Map([[id, await watchFanOut(target.leader, { watchers, seconds: cellSeconds, eventBudget, warmupSeconds, creds: target.creds })]]);
      } finally {
        await target.close();
      }
    },
  };
}

const leaseGroup: GroupDef = {
  id: 'lease',
  rows: [
    ops('lease grant x128', 'LeaseGrant (TTL 600 s), 128 in flight'),
    ops('lease keepalive x128', 'keepalives of the granted leases over 16 streams, 8 in flight on each'),
  ],
  run: async (ctx, wanted) => {
    const { cellSeconds, warmupSeconds } = ctx.settings;
    const target = await ctx.start();
    const clients = connections(target.leader, CONNECTIONS, target.creds);
    const out = new Map<string, Sample>();
    try {
      // Warm up as the kv group does (JIT, connections), with grants whose leases are then revoked.
      const warm: bigint[] = [];
      await leaseGrants(clients, 128, warmupSeconds, warm);
      for (let i = 0; i < warm.length; i += 128) await Promise.all(warm.slice(i, i + 128).map((id, j) => clients[j % clients.length]!.leaseRevoke(id)));
      const ids: bigint[] = [];
      const grants = await leaseGrants(clients, 128, wanted.has('lease grant x128') ? cellSeconds : 0.2, ids);
      if (wanted.has('lease grant x128')) out.set('lease grant x128', grants);
      if (wanted.has('lease keepalive x128')) {
        out.set('lease keepalive x128', await leaseKeepAlives(target.leader, ids, 16, 8, cellSeconds, target.creds));
      }
    } finally {
      for (const c of clients) c.close();
      await target.close();
    }
    return out;
  },
};

const lowerMs = (id: string, what: string): RowDef => ({ id, unit: 'ms', better: 'lower', what });

const startupGroup: GroupDef = {
  id: 'startup',
  rows: [
    lowerMs('start-up, empty', 'process start to ready (3 members: every member ready and a leader elected), fresh data dir'),
    lowerMs('load keys', 'the start-up keys written as txns of 100 puts, 8 in flight'),
    { id: 'rss per key', unit: 'bytes/key', better: 'lower', what: "the leader's RSS growth over the load, per key" },
    // Growth alone hides a smaller base (or a bigger one): what the process holds with the keys.
    { id: 'rss after load', unit: 'MiB', better: 'lower', what: "the leader's RSS once the keys are loaded" },
    lowerMs('start-up with keys', 'every member stopped cleanly (SIGTERM) with the keys loaded, then started again: to ready (and a leader)'),
    lowerMs('restart after kill -9', 'every member SIGKILLed with the keys loaded, then started again: to ready (and a leader)'),
  ],
  run: async (ctx) => {
    const { startupKeys } = ctx.settings;
    const t0 = performance.now();
    const target = await ctx.start();
    const out = new Map<string, Sample>();
    try {
      out.set('start-up, empty', { value: performance.now() - t0, errors: 0 });
      const client = connections(target.leader, 1, target.creds)[0]!;
      try {
        const rss0 = rssBytes(target.leaderPid());
        out.set('load keys', { value: await loadKeys(client, startupKeys, Buffer.alloc(ctx.settings.valueBytes, 'v')), errors: 0 });
        const rss1 = rssBytes(target.leaderPid());
        out.set('rss per key', { value: (rss1 - rss0) / startupKeys, errors: 0 });
        out.set('rss after load', { value: rss1 / 2 ** 20, errors: 0 });
      } finally {
        client.close();
      }
      // Every key must be back after each restart, or its figure means nothing.
      const restart = async (id: string, down: () => Promise<void>) => {
        await down();
        const t1 = performance.now();
        await target.restartAll();
        const ms = performance.now() - t1;
        const check = connections(target.leader, 1, target.creds)[0]!;
        try {
          const { count } = await check.range({ key: key('load/'), rangeEnd: key('load0'), countOnly: true });
          out.set(id, { value: ms, errors: Number(count) === startupKeys ? 0 : 1 });
        } finally {
          check.close();
        }
      };
      await restart('start-up with keys', () => target.stopAll());
      await restart('restart after kill -9', () => target.killAll());
    } finally {
      await target.close();
    }
    return out;
  },
};

/** The groups of the matrix for a member count, in the order they run. */
export function matrixGroups(members: 1 | 3, settings: Pick<GroupSettings, 'watchers'>): GroupDef[] {
  return [
    { id: 'kv', rows: kvRows(members), run: runKv },
    ...settings.watchers.map(watchGroup),
    leaseGroup,
    startupGroup,
  ];
}

/** A row is selected when no filter is given or its id contains one of the filters (case-insensitive). */
export function rowSelected(id: string, filters: readonly string[] | undefined): boolean {
  if (!filters || filters.length === 0) return true;
  const lower = id.toLowerCase();
  return filters.some((f) => lower.includes(f.toLowerCase()));
}
