import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommittedEntry } from '../replicated-log.js';
import { busyForTesting, idleForTesting, RaftLog } from '../raft-log.js';
import type { RaftLogOptions } from '../raft-log-options.js';
import { MemoryNetwork, ManualTicker } from './memory-network.js';

/** A seeded PRNG (mulberry32) for election timeouts: runs are repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** One member of a test cluster: its directory, the running log and what it applied. */
export interface TestMember {
  id: bigint;
  dir: string;
  ticker: ManualTicker;
  log: RaftLog;
  /** Entries handed to `apply` by this incarnation, in order. */
  applied: CommittedEntry[];
  /** Indexes of the conf-change entries this incarnation applied. */
  confChanges: number[];
  snapshotsInstalled: number[];
  fatal: unknown[];
  /**
   * Told of each `apply` call after `applied` took it (a test sets it to see when apply runs); a
   * promise it returns is apply's (the state machine applies them later).
   */
  onApply?: (entries: CommittedEntry[]) => void | Promise<void>;
}

export type MemberOptions = Partial<Omit<RaftLogOptions, 'id' | 'walDir' | 'snapDir' | 'send' | 'apply' | 'fatal'>>;

/** Members wired by a {@link MemoryNetwork}, driven by manual ticks. */
export class TestCluster {
  readonly net = new MemoryNetwork();
  readonly members = new Map<bigint, TestMember>();

  constructor(
    readonly ids: readonly bigint[],
    private readonly defaults: MemberOptions,
  ) {}

  /** Opens member `id` in `dir` (bootstrapping with `voters` only when asked). */
  async start(id: bigint, dir: string, extra: MemberOptions = {}): Promise<TestMember> {
    const ticker = new ManualTicker();
    const m: Partial<TestMember> & { applied: CommittedEntry[]; confChanges: number[]; snapshotsInstalled: number[]; fatal: unknown[] } = {
      id, dir, ticker, applied: [], confChanges: [], snapshotsInstalled: [], fatal: [],
    };
    const log = await RaftLog.open({
      id,
      walDir: join(dir, 'wal'),
      snapDir: join(dir, 'snap'),
      metadata: new Uint8Array(16),
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      snapshotCount: 10_000,
      random: seededRandom(Number(id) * 7919),
      ...this.defaults,
      ...extra,
      ticker,
      send: this.net.sender(id),
      apply: (entries) => {
        m.applied.push(...entries);
        const pending = m.onApply?.(entries);
        return pending instanceof Promise ? pending : undefined;
      },
      onConfChange: (_cc, _cs, index) => m.confChanges.push(index),
      onSnapshot: (s) => { m.snapshotsInstalled.push(s.metadata.index); },
      fatal: (err) => m.fatal.push(err),
    });
    m.log = log;
    this.members.set(id, m as TestMember);
    this.net.attach(id, log);
    return m as TestMember;
  }

  member(id: bigint): TestMember {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  get running(): TestMember[] {
    return [...this.members.values()];
  }

  /** Drops member `id` from the cluster object (after a crash or close); its directory stays. */
  remove(id: bigint): void {
    this.members.delete(id);
    this.net.detach(id);
  }

  /** Waits until no message is in flight and no member has work in progress. */
  async settle(): Promise<void> {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const busy = this.running.filter((m) => busyForTesting(m.log));
      if (busy.length > 0) {
        await Promise.all(busy.map((m) => idleForTesting(m.log)));
        continue;
      }
      if (this.net.inFlight === 0) return;
      await new Promise<void>((r) => setImmediate(r));
    }
    throw new Error('cluster did not settle');
  }

  tickAll(): void {
    for (const m of this.running) m.ticker.tick();
  }

  /** Ticks (settling in between) until `cond` holds; throws after `maxTicks`. */
  async until(cond: () => boolean, maxTicks = 200): Promise<void> {
    await this.settle();
    for (let t = 0; t < maxTicks; t++) {
      if (cond()) return;
      this.tickAll();
      await this.settle();
    }
    if (!cond()) throw new Error(`condition not reached within ${maxTicks} ticks`);
  }

  leader(): TestMember | undefined {
    const leaders = this.running.filter((m) => m.log.status().isLeader);
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  async closeAll(): Promise<void> {
    for (const m of this.running) await m.log.close();
  }
}
