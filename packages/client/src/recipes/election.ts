import type { CallControl } from '../connection.js';
import { CancelledError, ElectionNoLeaderError, ElectionNotLeaderError } from '../errors.js';
import { Cmp, Op, toBuf, type Bytes, type KeyValue, type ResponseHeader } from '../kv.js';
import type { Session } from './session.js';
import { assertSessionHolds, waitDeletes } from './wait-deletes.js';

/** The leader as read or observed: its key (with value) and the header of the read. */
export interface LeaderState {
  header: ResponseHeader;
  kv: KeyValue;
}

/**
 * Leader election with etcd's semantics and key layout (`<prefix>/<lease ID in hex>`, value = the
 * proposal): the candidate with the oldest key leads. It interoperates with Go's
 * concurrency.Election, `etcdctl elect` and the Election service.
 */
export class Election {
  private readonly keyPrefix: Buffer;
  private leaderKey: Buffer = Buffer.alloc(0);
  private leaderRev = 0n;
  private leaderSession: Session | undefined;
  private hdr: ResponseHeader | undefined;

  constructor(private readonly session: Session, prefix: Bytes) {
    this.keyPrefix = Buffer.concat([toBuf(prefix), Buffer.from('/')]);
  }

  /** Resumes leadership won earlier (etcd's ResumeElection): the key and its create revision. */
  static resume(session: Session, prefix: Bytes, leaderKey: Bytes, leaderRev: bigint): Election {
    const e = new Election(session, prefix);
    e.leaderKey = toBuf(leaderKey);
    e.leaderRev = leaderRev;
    e.leaderSession = session;
    return e;
  }

  get key(): Buffer { return this.leaderKey; }
  get rev(): bigint { return this.leaderRev; }
  get header(): ResponseHeader | undefined { return this.hdr; }

  /**
   * Puts a value as eligible for election and waits until it leads. Cancelled (signal), it
   * resigns; after another failure the key stays, and campaigning again resumes it.
   */
  async campaign(value: Bytes, control: CallControl = {}): Promise<void> {
    const s = this.session;
    const client = s.client;
    const k = Buffer.concat([this.keyPrefix, Buffer.from(s.lease.toString(16))]);
    const campaigning = this.leaderSession !== undefined;
    let r;
    try {
      r = await client.txn()
        .if(Cmp.createRevision(k, '=', 0))
        .success(Op.put(k, value, { lease: s.lease }))
        .failure(Op.get(k))
        .commit(control);
    } catch (err) {
      // Cancelled with the txn in flight, the key may exist: a candidate nobody follows would
      // block the others until the session ends (Go leaves it), so it goes.
      if (!campaigning) await client.delete(k).catch(() => undefined);
      throw err;
    }
    this.leaderKey = k;
    this.leaderRev = r.header.revision;
    this.leaderSession = s;
    if (!r.succeeded) {
      const got = r.responses[0]!;
      const kv = got.type === 'range' ? got.kvs[0] : undefined;
      if (kv !== undefined) {
        this.leaderRev = kv.createRevision;
        if (!kv.value.equals(toBuf(value))) {
          try { await this.proclaim(value, control); } catch (err) { await this.resign().catch(() => undefined); throw err; }
        }
      }
    }
    try {
      await waitDeletes(client, this.keyPrefix, this.leaderRev - 1n, control.signal);
      await assertSessionHolds(s, k, control);
    } catch (err) {
      if (control.signal?.aborted) await this.resign().catch(() => undefined);
      else this.leaderSession = undefined;
      throw err;
    }
    this.hdr = r.header;
  }

  /** Sets a new value while leading; {@link ElectionNotLeaderError} if no longer the leader. */
  async proclaim(value: Bytes, control: CallControl = {}): Promise<void> {
    if (this.leaderSession === undefined) throw new ElectionNotLeaderError();
    const r = await this.session.client.txn()
      .if(Cmp.createRevision(this.leaderKey, '=', this.leaderRev))
      .success(Op.put(this.leaderKey, value, { lease: this.leaderSession.lease }))
      .commit(control);
    if (!r.succeeded) {
      this.leaderKey = Buffer.alloc(0);
      throw new ElectionNotLeaderError();
    }
    this.hdr = r.header;
  }

  /** Gives up leadership (deletes the key if it is still this campaign's). */
  async resign(control: CallControl = {}): Promise<void> {
    if (this.leaderSession === undefined) return;
    const r = await this.session.client.txn()
      .if(Cmp.createRevision(this.leaderKey, '=', this.leaderRev))
      .success(Op.delete(this.leaderKey))
      .commit(control);
    this.hdr = r.header;
    this.leaderKey = Buffer.alloc(0);
    this.leaderSession = undefined;
  }

  /** The current leader; {@link ElectionNoLeaderError} when nobody campaigns. */
  async leader(control: CallControl = {}): Promise<LeaderState> {
    const r = await this.session.client.range(this.keyPrefix, { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1, ...control });
    if (r.kvs.length === 0) throw new ElectionNoLeaderError();
    return { header: r.header, kv: r.kvs[0]! };
  }

  /**
   * Every leader in turn, and each new value a leader proclaims (etcd's Observe). Ends when
   * `signal` aborts or a watch fails.
   */
  async *observe(control: CallControl = {}): AsyncGenerator<LeaderState> {
    const client = this.session.client;
    const signal = control.signal;
    for (;;) {
      if (signal?.aborted) return;
      let r;
      try {
        r = await client.range(this.keyPrefix, { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1, signal });
      } catch (err) {
        if (err instanceof CancelledError) return;
        throw err;
      }
      let state: LeaderState | undefined;
      if (r.kvs.length === 0) {
        // Wait for the first key put under the prefix.
        const w = client.watch(this.keyPrefix, { prefix: true, startRevision: r.header.revision, signal });
        try {
          for await (const b of w) {
            const put = b.events.find((e) => e.type === 'put');
            if (put !== undefined) {
              state = { header: { ...b.header, revision: put.kv.modRevision }, kv: put.kv };
              break;
            }
          }
        } finally { w.close(); }
        if (state === undefined) return;
      } else {
        state = { header: r.header, kv: r.kvs[0]! };
      }
      yield state;
      if (signal?.aborted) return;
      // Follow that leader's key until it is deleted: each put is a new proclaimed value.
      const w = client.watch(state.kv.key, { startRevision: state.header.revision + 1n, signal });
      let deleted = false;
      try {
        for await (const b of w) {
          for (const e of b.events) {
            if (e.type === 'delete') { deleted = true; break; }
            yield { header: b.header, kv: e.kv };
            if (signal?.aborted) return;
          }
          if (deleted) break;
        }
      } finally { w.close(); }
      if (!deleted) return;
    }
  }
}
