// Software transactional memory over txns (etcd's concurrency/stm.go): `apply` reads and writes
// through the STM; its writes commit in one txn only if what it read is still current, else it runs again.
import type { Client } from '../client.js';
import type { CallControl } from '../connection.js';
import { Cmp, Op, type Compare, type PutOptions, type RangeOptions, type RangeResult, type TxnOp, type TxnResult } from '../kv.js';

/**
 * - `serializable-snapshot` (default, etcd's SerializableSnapshot): reads are one snapshot (the
 *   first read's revision); the commit fails if any key read or written changed since.
 * - `serializable`: reads are one snapshot; the commit fails if any key read changed.
 * - `repeatable-reads`: each key read once (member-local reads); the commit fails if any key read changed.
 * - `read-committed`: no conflict check; writes commit in one txn.
 */
export type Isolation = 'serializable-snapshot' | 'serializable' | 'repeatable-reads' | 'read-committed';

export interface StmOptions extends CallControl {
  isolation?: Isolation;
  /** Keys read in the first round before `apply` runs. */
  prefetch?: string[];
}

/** What `apply` sees. Values are strings (UTF-8); a missing key reads as ''. */
export interface STM {
  /** The value of the first of `keys` found (writes of this round first). */
  get(...keys: string[]): Promise<string>;
  put(key: string, value: string, opts?: PutOptions): void;
  del(key: string): void;
  /** The key's mod revision (0 if missing). */
  rev(key: string): Promise<bigint>;
}

interface Write { value: string; op: TxnOp }

class Stm implements STM {
  rset = new Map<string, RangeResult>();
  wset = new Map<string, Write>();
  getOpts: RangeOptions = {};
  prefetch = new Map<string, RangeResult>();

  constructor(private readonly client: Client, private readonly isolation: Isolation, private readonly control: CallControl) {
    if (isolation === 'repeatable-reads' || isolation === 'read-committed') this.getOpts = { serializable: true };
  }

  private get snapshot(): boolean {
    return this.isolation === 'serializable-snapshot' || this.isolation === 'serializable';
  }

  reset(): void {
    this.rset = new Map();
    this.wset = new Map();
  }

  private async fetch(keys: string[]): Promise<RangeResult | undefined> {
    if (keys.length === 0) return undefined;
    for (const k of keys) {
      const known = this.rset.get(k);
      if (known !== undefined) return known;
    }
    const r = await this.client.txn().success(...keys.map((k) => Op.get(k, this.getOpts))).commit(this.control);
    keys.forEach((k, i) => { const op = r.responses[i]!; if (op.type === 'range') this.rset.set(k, op); });
    return this.rset.get(keys[0]!);
  }

  async get(...keys: string[]): Promise<string> {
    for (const k of keys) {
      const w = this.wset.get(k);
      if (w !== undefined) return w.value;
    }
    if (!this.snapshot) return value(await this.fetch(keys));
    const firstRead = this.rset.size === 0;
    for (const k of keys) {
      const p = this.prefetch.get(k);
      if (p !== undefined) { this.prefetch.delete(k); this.rset.set(k, p); }
    }
    const r = await this.fetch(keys);
    if (firstRead && r !== undefined) this.getOpts = { revision: r.header.revision, serializable: true };
    return value(r);
  }

  put(key: string, v: string, opts: PutOptions = {}): void {
    this.wset.set(key, { value: v, op: Op.put(key, v, opts) });
  }

  del(key: string): void {
    this.wset.set(key, { value: '', op: Op.delete(key) });
  }

  async rev(key: string): Promise<bigint> {
    if (this.snapshot) await this.get(key);
    const r = await this.fetch([key]);
    return r?.kvs[0]?.modRevision ?? 0n;
  }

  private conflicts(): Compare[] {
    const reads = [...this.rset].map(([k, r]) => Cmp.modRevision(k, '=', r.kvs[0]?.modRevision ?? 0n));
    switch (this.isolation) {
      case 'serializable-snapshot': {
        let first = 2n ** 63n - 2n;
        for (const r of this.rset.values()) if (r.header.revision < first) first = r.header.revision;
        return [...reads, ...[...this.wset.keys()].map((k) => Cmp.modRevision(k, '<', first + 1n))];
      }
      case 'serializable':
      case 'repeatable-reads': return reads;
      case 'read-committed': return [];
    }
  }

  /** The txn's result if it committed; undefined if a conflict means another round. */
  async commit(): Promise<TxnResult | undefined> {
    const puts = [...this.wset.values()].map((w) => w.op);
    if (!this.snapshot) {
      const r = await this.client.txn().if(...this.conflicts()).success(...puts).commit(this.control);
      return r.succeeded ? r : undefined;
    }
    const keys = [...this.rset.keys()];
    const r = await this.client.txn().if(...this.conflicts()).success(...puts).failure(...keys.map((k) => Op.get(k))).commit(this.control);
    if (r.succeeded) return r;
    // Start the next round from what the failed txn read (etcd's prefetch).
    const next = new Map<string, RangeResult>();
    keys.forEach((k, i) => { const op = r.responses[i]!; if (op.type === 'range') next.set(k, op); });
    this.prefetch = next;
    this.getOpts = {};
    return undefined;
  }
}

const value = (r: RangeResult | undefined): string => r?.kvs[0]?.value.toString() ?? '';

/**
 * Runs `apply` until its writes commit without a conflict; returns the committed txn. An error
 * thrown by `apply` (or by a call) ends it, and nothing is written.
 *
 * @example
 *   await runStm(client, async (stm) => {
 *     const n = Number(await stm.get('counter') || '0');
 *     stm.put('counter', String(n + 1));
 *   }, { isolation: 'serializable' });
 */
export async function runStm(client: Client, apply: (stm: STM) => Promise<void>, opts: StmOptions = {}): Promise<TxnResult> {
  const stm = new Stm(client, opts.isolation ?? 'serializable-snapshot', { signal: opts.signal, timeoutMs: opts.timeoutMs });
  const run = opts.prefetch !== undefined && opts.prefetch.length > 0
    ? async (s: STM) => { await s.get(...opts.prefetch!); await apply(s); }
    : apply;
  for (;;) {
    stm.reset();
    await run(stm);
    const r = await stm.commit();
    if (r !== undefined) return r;
  }
}
