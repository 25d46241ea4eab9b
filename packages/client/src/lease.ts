// A lease kept alive by the client: keepalives on a stream that moves to another endpoint when
// its member goes away, and a signal when the lease is lost.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@raftkv/api';
import { InvalidAuthTokenError, LeaseLostError, toClientError, type EtcdClientError } from './errors.js';
import { retryable, sleep, type CallControl, type Pool } from './connection.js';
import type { ResponseHeader } from './kv.js';

export interface LeaseTimeToLive {
  header: ResponseHeader;
  id: bigint;
  /** Seconds left; -1 when the lease does not exist (expired or revoked). */
  ttl: bigint;
  grantedTtl: bigint;
  keys: Buffer[];
}

/**
 * A granted lease. With `keepAlive` (the default of `client.grant`) the client renews it every
 * third of its TTL until `release()`, `revoke()` or `client.close()`. `signal` aborts, with a
 * {@link LeaseLostError} as its reason, when the lease is lost: the server said it no longer
 * exists, or no renewal succeeded before the TTL ran out (the client cannot tell any more that
 * it is alive, so anything it guards must stop).
 */
export class Lease {
  private readonly lostController = new AbortController();
  private stopped = false;
  private call: ClientDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse> | undefined;
  /** Local time (ms) by which the lease expires unless renewed. */
  private expiresAt: number;
  /** Fires at `expiresAt`: the lost signal must not wait for the next renewal attempt (up to TTL/3 later). */
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Aborted when the lease is lost (reason: a LeaseLostError). */
  readonly signal: AbortSignal;
  /** Resolves with the error when the lease is lost (never rejects). */
  readonly lost: Promise<LeaseLostError>;
  /** How many renewals succeeded. */
  keepAlives = 0;

  /** @internal made by the client, not by users. */
  constructor(private readonly pool: Pool, readonly id: bigint, readonly ttl: bigint, keepAlive: boolean) {
    this.signal = this.lostController.signal;
    this.lost = new Promise((resolve) => this.signal.addEventListener('abort', () => resolve(this.signal.reason as LeaseLostError), { once: true }));
    this.expiresAt = Date.now() + Number(ttl) * 1000;
    if (keepAlive) {
      this.armExpiry();
      void this.keepAliveLoop();
    }
  }

  /** Whether the lease is lost. */
  get isLost(): boolean {
    return this.signal.aborted;
  }

  private markLost(why: string): void {
    if (this.lostController.signal.aborted) return;
    this.stopKeepAlive();
    this.lostController.abort(new LeaseLostError(`lease ${this.id.toString(16)} lost: ${why}`));
  }

  private stopKeepAlive(): void {
    this.stopped = true;
    clearTimeout(this.expiryTimer);
    this.call?.cancel();
  }

  /**
   * Marks the lease lost the moment its known life ends. That moment (a renewal's send time plus
   * the TTL it got) is never later than the server's expiry, so a holder learns it lost a lock or
   * an election before anyone else can win it (checking only at the next renewal attempt left a
   * window of up to TTL/3 with two holders).
   */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => {
      if (Date.now() >= this.expiresAt) this.markLost('no renewal succeeded within its TTL');
      else this.armExpiry();
    }, Math.max(0, this.expiresAt - Date.now()));
    this.expiryTimer.unref();
  }

  /** Stops renewing the lease without revoking it (it expires after its TTL). */
  release(): void {
    this.stopKeepAlive();
  }

  /** Stops renewing and revokes the lease (its keys are deleted). */
  async revoke(control: CallControl = {}): Promise<void> {
    this.stopKeepAlive();
    await this.pool.unary(etcdserverpb.LeaseService.leaseRevoke, { ID: this.id }, 'idempotent', control);
  }

  /** The server's view of the lease (a linearizable read). */
  timeToLive(opts: CallControl & { keys?: boolean } = {}): Promise<LeaseTimeToLive> {
    return leaseTimeToLive(this.pool, this.id, opts);
  }

  private async keepAliveLoop(): Promise<void> {
    const intervalMs = Math.max(Number(this.ttl) * 1000 / 3, 100);
    for (let attempt = 0; !this.stopped && !this.pool.isClosed; attempt++) {
      let address: string | undefined;
      try {
        await this.pool.authenticated();
        if (this.stopped) return;
        const opened = this.pool.bidi(etcdserverpb.LeaseService.leaseKeepAlive);
        address = opened.address;
        this.call = opened.call;
        await this.renewOn(opened.call, intervalMs, () => { attempt = 0; });
        if (address !== undefined) this.pool.failover(address);
      } catch (raw) {
        if (this.stopped || this.pool.isClosed) return;
        const err: EtcdClientError = toClientError(raw);
        if (err instanceof InvalidAuthTokenError) {
          try { await this.pool.refreshToken(); } catch { /* retried below until the lease runs out */ }
        } else if (!retryable(raw, err, 'idempotent').again) {
          this.markLost(err.message);
          return;
        } else if (address !== undefined) this.pool.failover(address);
      }
      if (Date.now() >= this.expiresAt) { this.markLost('no renewal succeeded within its TTL'); return; }
      try { await sleep(Math.min(50 * 2 ** Math.min(attempt, 4), 500), this.pool.closeSignal); } catch { return; }
    }
  }

  /** Renews on one stream until it breaks; resolves when the server ends it. */
  private renewOn(
    call: ClientDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>, intervalMs: number, onRenewed: () => void,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // Send times of unanswered renewals, oldest first: the server answers in order, and the
      // lease is only known to live TTL past the request an answer belongs to.
      const sentAt: number[] = [];
      const send = (): void => {
        if (this.stopped) return;
        if (Date.now() >= this.expiresAt) { this.markLost('no renewal succeeded within its TTL'); return; }
        sentAt.push(Date.now());
        call.write({ ID: this.id });
        // No answer within the interval: try again (the lease's clock runs meanwhile).
        timer = setTimeout(send, intervalMs);
      };
      call.on('data', (res: etcdserverpb.LeaseKeepAliveResponse) => {
        clearTimeout(timer);
        if (res.TTL <= 0n) { this.markLost('expired or revoked'); resolve(); return; }
        const at = sentAt.shift() ?? Date.now();
        this.expiresAt = at + Number(res.TTL) * 1000;
        this.armExpiry();
        this.keepAlives++;
        onRenewed();
        timer = setTimeout(send, intervalMs);
      });
      call.on('error', (e) => { clearTimeout(timer); reject(e); });
      call.on('end', () => { clearTimeout(timer); resolve(); });
      send();
    });
  }
}

export async function leaseTimeToLive(pool: Pool, id: bigint, opts: CallControl & { keys?: boolean }): Promise<LeaseTimeToLive> {
  const r = await pool.unary(etcdserverpb.LeaseService.leaseTimeToLive, { ID: id, keys: opts.keys ?? false }, 'idempotent', opts);
  return { header: r.header!, id: r.ID, ttl: r.TTL, grantedTtl: r.grantedTTL, keys: r.keys };
}
