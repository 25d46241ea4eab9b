import type { Client } from '../client.js';
import type { CallControl } from '../connection.js';
import type { Lease } from '../lease.js';

export interface SessionOptions extends CallControl {
  /** Lease TTL in seconds (default 60, etcd's). */
  ttl?: number;
}

/**
 * A lease kept alive for as long as the process holds it (etcd's concurrency.Session): Mutex and
 * Election keys are attached to it, so they vanish when the process dies and its lease expires.
 * `signal` aborts when the lease is lost; whatever the session guards must stop then.
 */
export class Session {
  private constructor(readonly client: Client, private readonly leaseHandle: Lease) {}

  static async create(client: Client, opts: SessionOptions = {}): Promise<Session> {
    const ttl = opts.ttl !== undefined && opts.ttl > 0 ? opts.ttl : 60;
    return new Session(client, await client.grant(ttl, opts));
  }

  /** A session over an existing lease the caller keeps alive itself (the Lock/Election services' use). */
  static ofLease(client: Client, lease: Lease): Session {
    return new Session(client, lease);
  }

  /** The lease ID. */
  get lease(): bigint {
    return this.leaseHandle.id;
  }

  /** Aborts when the lease is lost. */
  get signal(): AbortSignal {
    return this.leaseHandle.signal;
  }

  /** Stops the keepalive without revoking: the lease expires after its TTL. */
  orphan(): void {
    this.leaseHandle.release();
  }

  /** Stops the keepalive and revokes the lease (every key of the session goes). */
  async close(control: CallControl = {}): Promise<void> {
    await this.leaseHandle.revoke({ timeoutMs: Number(this.leaseHandle.ttl) * 1000, ...control });
  }
}
