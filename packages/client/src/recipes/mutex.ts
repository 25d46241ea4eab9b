import type { CallControl } from '../connection.js';
import { EtcdClientError } from '../errors.js';
import { Cmp, Op, toBuf, type Bytes, type Compare, type ResponseHeader } from '../kv.js';
import type { Session } from './session.js';
import { assertSessionHolds, waitDeletes } from './wait-deletes.js';

/** Lock already held by another session (tryLock). etcd's ErrLocked. */
export class LockedError extends EtcdClientError {
  override name = 'LockedError';
  constructor() { super('mutex: Locked by another session'); }
}

/**
 * A distributed lock, fair (first come, first served by create revision), with etcd's key layout:
 * `<prefix>/<lease ID in hex>`, attached to the session's lease. It interoperates with Go's
 * concurrency.Mutex, `etcdctl lock` and the Lock service.
 */
export class Mutex {
  private readonly pfx: Buffer;
  private myKey: Buffer = Buffer.alloc(0);
  private myRev = -1n;
  private hdr: ResponseHeader | undefined;

  constructor(private readonly session: Session, prefix: Bytes) {
    this.pfx = Buffer.concat([toBuf(prefix), Buffer.from('/')]);
  }

  /** This session's key (empty before lock()). */
  get key(): Buffer {
    return this.myKey;
  }

  /** The header of the response that granted the lock. */
  get header(): ResponseHeader | undefined {
    return this.hdr;
  }

  /** A txn condition true while this mutex holds the lock. */
  isOwner(): Compare {
    return Cmp.createRevision(this.myKey, '=', this.myRev);
  }

  private async enqueue(control: CallControl): Promise<{ owner: boolean; header: ResponseHeader }> {
    const client = this.session.client;
    this.myKey = Buffer.concat([this.pfx, Buffer.from(this.session.lease.toString(16))]);
    const getOwner = Op.get(this.pfx, { prefix: true, sort: { target: 'create', order: 'ascend' }, limit: 1 });
    const r = await client.txn()
      .if(Cmp.createRevision(this.myKey, '=', 0))
      .success(Op.put(this.myKey, '', { lease: this.session.lease }), getOwner)
      .failure(Op.get(this.myKey), getOwner)
      .commit(control);
    this.myRev = r.header.revision;
    if (!r.succeeded) {
      const mine = r.responses[0]!;
      if (mine.type === 'range' && mine.kvs[0] !== undefined) this.myRev = mine.kvs[0].createRevision;
    }
    const owner = r.responses[1]!;
    const ownerKvs = owner.type === 'range' ? owner.kvs : [];
    return { owner: ownerKvs.length === 0 || ownerKvs[0]!.createRevision === this.myRev, header: r.header };
  }

  /** Waits for the lock. On failure or cancellation it leaves the queue (deletes its key). */
  async lock(control: CallControl = {}): Promise<void> {
    const { owner, header } = await this.enqueueOrLeave(control);
    if (owner) { this.hdr = header; return; }
    let waited: ResponseHeader;
    try {
      waited = await waitDeletes(this.session.client, this.pfx, this.myRev - 1n, control.signal);
    } catch (err) {
      await this.unlock().catch(() => undefined);
      throw err;
    }
    await assertSessionHolds(this.session, this.myKey, control);
    this.hdr = waited;
  }

  /**
   * enqueue(); if that fails (cancelled while its txn was in flight: the key may exist), the key
   * is deleted unless this mutex already held the lock. (Go's Mutex leaves it until the session ends.)
   */
  private async enqueueOrLeave(control: CallControl): Promise<{ owner: boolean; header: ResponseHeader }> {
    const held = this.myRev !== -1n;
    try {
      return await this.enqueue(control);
    } catch (err) {
      if (!held && this.myKey.length > 0) await this.session.client.delete(this.myKey).catch(() => undefined);
      throw err;
    }
  }

  /** Takes the lock if free, else leaves the queue and throws {@link LockedError} (etcd 3.5's TryLock). */
  async tryLock(control: CallControl = {}): Promise<void> {
    const { owner, header } = await this.enqueueOrLeave(control);
    if (owner) { this.hdr = header; return; }
    await this.unlock(control);
    throw new LockedError();
  }

  async unlock(control: CallControl = {}): Promise<void> {
    await this.session.client.delete(this.myKey, control);
    this.myKey = Buffer.from([0]);
    this.myRev = -1n;
  }
}
