// A service registry on leases and watches: instances register under
// `<prefix><service>/<id>` with a lease kept alive; discovery is a live, watch-driven set.
import type { Client } from '../client.js';
import type { Lease } from '../lease.js';
import { LiveMap } from './live-map.js';

export interface ServiceInstance {
  /** Unique within the service. */
  id: string;
  /** host:port the instance serves on. */
  address: string;
  metadata?: Record<string, string>;
}

/** A registered instance: kept registered (re-registered if its lease is ever lost) until close(). */
export class Registration {
  private lease: Lease | undefined;
  private closed = false;
  /** How many times the instance had to be registered again after its lease was lost. */
  reregistrations = 0;

  constructor(private readonly client: Client, readonly key: string, private readonly value: string, private readonly ttl: number) {}

  /** The lease currently holding the registration. */
  get leaseId(): bigint | undefined {
    return this.lease?.id;
  }

  /** @internal */
  async start(): Promise<void> {
    const lease = await this.client.grant(this.ttl);
    await this.client.put(this.key, this.value, { lease: lease.id });
    this.lease = lease;
    void lease.lost.then(() => this.again());
  }

  private async again(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        await this.start();
        this.reregistrations++;
        return;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
      }
    }
  }

  /** Deregisters: revokes the lease (the key goes with it). */
  async close(): Promise<void> {
    this.closed = true;
    await this.lease?.revoke();
  }
}

/**
 * Service discovery over the store.
 *
 * @example
 *   const registry = new ServiceRegistry(client);
 *   const reg = await registry.register('api', { id: 'a1', address: '10.0.0.7:8080' });
 *   const api = registry.discover('api');
 *   await api.ready;
 *   [...api.snapshot.values()].map((i) => i.address);  // ['10.0.0.7:8080']
 */
export class ServiceRegistry {
  readonly prefix: string;

  constructor(readonly client: Client, opts: { prefix?: string } = {}) {
    this.prefix = opts.prefix ?? 'services/';
  }

  private servicePrefix(service: string): string {
    if (service === '' || service.includes('/')) throw new TypeError(`a service name is non-empty and has no '/': ${JSON.stringify(service)}`);
    return `${this.prefix}${service}/`;
  }

  /** Registers `instance` with a lease of `ttl` seconds kept alive (default 10). */
  async register(service: string, instance: ServiceInstance, opts: { ttl?: number } = {}): Promise<Registration> {
    const r = new Registration(this.client, `${this.servicePrefix(service)}${instance.id}`, JSON.stringify(instance), opts.ttl ?? 10);
    await r.start();
    return r;
  }

  /** The live set of `service`'s instances, by id. Instances whose value is not an instance are left out. */
  discover(service: string): LiveMap<ServiceInstance> {
    return new LiveMap(this.client, this.servicePrefix(service), (kv) => parseInstance(kv.value.toString()));
  }
}

function parseInstance(text: string): ServiceInstance {
  const v = JSON.parse(text) as Partial<ServiceInstance>;
  if (typeof v.id !== 'string' || typeof v.address !== 'string') throw new TypeError('not a service instance');
  return { id: v.id, address: v.address, ...(v.metadata !== undefined ? { metadata: v.metadata } : {}) };
}
