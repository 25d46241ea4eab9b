import { describe, expect, it } from 'vitest';
import { Random } from '../random.js';
import { checkLinearizable, formatOperation, HistoryRecorder, type Operation } from './index.js';

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; set: (ms: number) => void } {
  let ms = 0;
  return { now: () => ms, set: (to) => (ms = to) };
}

describe('HistoryRecorder', () => {
  it('records invocation and completion times from its clock, with results by type', () => {
    const clock = manualClock();
    const rec = new HistoryRecorder(clock.now);
    const w = rec.invoke('c1', { type: 'put', key: 'k', value: 'a' });
    clock.set(3);
    const r = rec.invoke('c2', { type: 'get', key: 'k' });
    clock.set(5);
    rec.complete(w);
    const c = rec.invoke('c3', { type: 'cas', key: 'k', expected: 'a', value: 'b' });
    clock.set(8);
    rec.complete(r, 'a');
    rec.complete(c, 'ok');
    expect(rec.history()).toEqual([
      { id: 0, client: 'c1', input: { type: 'put', key: 'k', value: 'a' }, invokeMs: 0, outcome: { status: 'ok', completeMs: 5, result: 'ok' } },
      { id: 1, client: 'c2', input: { type: 'get', key: 'k' }, invokeMs: 3, outcome: { status: 'ok', completeMs: 8, result: 'a' } },
      {
        id: 2,
        client: 'c3',
        input: { type: 'cas', key: 'k', expected: 'a', value: 'b' },
        invokeMs: 5,
        outcome: { status: 'ok', completeMs: 8, result: 'ok' },
      },
    ]);
    expect(checkLinearizable(rec.history()).ok).toBe(true);
  });

  it('records unknown outcomes, and pending operations as unknown', () => {
    const rec = new HistoryRecorder(manualClock().now);
    const timedOut = rec.invoke('c1', { type: 'put', key: 'k', value: 'a' });
    rec.invoke('c2', { type: 'delete', key: 'k' });
    rec.unknown(timedOut);
    expect(rec.history().map((op) => op.outcome)).toEqual([{ status: 'unknown' }, { status: 'unknown' }]);
  });

  it('refuses to complete an operation twice', () => {
    const rec = new HistoryRecorder(manualClock().now);
    const op = rec.invoke('c1', { type: 'get', key: 'k' });
    rec.complete(op, undefined);
    expect(() => rec.complete(op, 'x')).toThrow(/not pending/);
    expect(() => rec.unknown(op)).toThrow(/not pending/);
  });

  it('refuses a clock that goes backwards and a cas result of the wrong shape', () => {
    const clock = manualClock();
    const rec = new HistoryRecorder(clock.now);
    clock.set(10);
    const op = rec.invoke('c1', { type: 'cas', key: 'k', expected: undefined, value: 'a' });
    clock.set(9);
    expect(() => rec.invoke('c1', { type: 'get', key: 'k' })).toThrow(/backwards/);
    clock.set(11);
    expect(() => rec.complete(op, 'yes' as 'ok')).toThrow(/cas result/);
  });

  it('stops at its operation limit', () => {
    const rec = new HistoryRecorder(manualClock().now, 2);
    rec.invoke('c1', { type: 'get', key: 'k' });
    rec.invoke('c1', { type: 'get', key: 'k' });
    expect(() => rec.invoke('c1', { type: 'get', key: 'k' })).toThrow(/limit of 2/);
  });

  it('uses performance.now by default', () => {
    const rec = new HistoryRecorder();
    const before = performance.now();
    const op = rec.invoke('c1', { type: 'get', key: 'k' });
    rec.complete(op, undefined);
    const [recorded] = rec.history();
    expect(recorded!.invokeMs).toBeGreaterThanOrEqual(before);
    expect(recorded!.outcome.status === 'ok' && recorded!.outcome.completeMs).toBeGreaterThanOrEqual(recorded!.invokeMs);
  });
});

describe('formatOperation', () => {
  it.each([
    [{ type: 'put', key: 'k', value: 'v' }, { status: 'ok', completeMs: 2, result: 'ok' }, '#0 c1 [1.000, 2.000] put("k", "v") -> ok'],
    [{ type: 'get', key: 'k' }, { status: 'ok', completeMs: 2, result: undefined }, '#0 c1 [1.000, 2.000] get("k") -> absent'],
    [{ type: 'cas', key: 'k', expected: undefined, value: 'v' }, { status: 'unknown' }, '#0 c1 [1.000, ∞) cas("k", absent -> "v") -> ?'],
    [{ type: 'delete', key: 'k' }, { status: 'ok', completeMs: 2, result: 'ok' }, '#0 c1 [1.000, 2.000] delete("k") -> ok'],
  ] as const)('%o %o', (input, outcome, line) => {
    expect(formatOperation({ id: 0, client: 'c1', invokeMs: 1, input, outcome } as Parameters<typeof formatOperation>[0])).toBe(line);
  });
});

describe('HistoryRecorder with concurrent async clients', () => {
  /** A store whose reads may be served by a follower that applies writes late. */
  class Store {
    private readonly leader = new Map<string, string>();
    private readonly follower = new Map<string, string>();
    constructor(
      private readonly rng: Random,
      private readonly readsFromLaggingFollower: boolean,
    ) {}
    async put(key: string, value: string): Promise<void> {
      await this.pause();
      this.leader.set(key, value);
      void this.replicate(key, value);
      await this.pause();
    }
    async cas(key: string, expected: string | undefined, value: string): Promise<'ok' | 'failed'> {
      await this.pause();
      const held = this.leader.get(key) === expected;
      if (held) {
        this.leader.set(key, value);
        void this.replicate(key, value);
      }
      await this.pause();
      return held ? 'ok' : 'failed';
    }
    async get(key: string): Promise<string | undefined> {
      await this.pause();
      const value = (this.readsFromLaggingFollower ? this.follower : this.leader).get(key);
      await this.pause();
      return value;
    }
    private async replicate(key: string, value: string): Promise<void> {
      await this.pause();
      await this.pause();
      this.follower.set(key, value);
    }
    private async pause(): Promise<void> {
      for (let i = this.rng.int(8); i > 0; i--) await Promise.resolve();
    }
  }

  async function run(readsFromLaggingFollower: boolean): Promise<Operation[]> {
    const rng = new Random(42);
    const store = new Store(rng, readsFromLaggingFollower);
    // A logical clock: every reading is later than the one before, so no two events tie.
    let tick = 0;
    const rec = new HistoryRecorder(() => tick++);
    const client = async (c: number): Promise<void> => {
      let lastSeen: string | undefined;
      for (let i = 0; i < 40; i++) {
        const roll = rng.next();
        if (roll < 0.4) {
          const op = rec.invoke(`c${c}`, { type: 'put', key: 'k', value: `c${c}-${i}` });
          await store.put('k', op.input.value);
          rec.complete(op);
        } else if (roll < 0.8) {
          const op = rec.invoke(`c${c}`, { type: 'get', key: 'k' });
          lastSeen = await store.get('k');
          rec.complete(op, lastSeen);
        } else {
          const op = rec.invoke(`c${c}`, { type: 'cas', key: 'k', expected: lastSeen, value: `c${c}-${i}` });
          rec.complete(op, await store.cas('k', lastSeen, op.input.value));
        }
      }
    };
    await Promise.all([0, 1, 2, 3, 4].map(client));
    return rec.history();
  }

  it('a store that reads from the leader gives a linearizable history', async () => {
    const history = await run(false);
    expect(history).toHaveLength(200);
    expect(checkLinearizable(history).ok).toBe(true);
  });

  it('a store that reads from a lagging follower is caught with a stale-read witness', async () => {
    const result = checkLinearizable(await run(true));
    expect(result.ok).toBe(false);
    if (result.ok !== false) return;
    expect(result.witness.operations.some((op) => op.input.type === 'get')).toBe(true);
    expect(result.witness.operations.length).toBeLessThan(10);
  });
});
