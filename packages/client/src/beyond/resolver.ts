// A @grpc/grpc-js name resolver fed by the service registry: a channel to `raftkv:///api`
// balances (round robin) over the live instances of service `api`, with no other code.
import { experimental, status, type ChannelOptions } from '@grpc/grpc-js';
import type { LiveMap } from './live-map.js';
import type { ServiceInstance, ServiceRegistry } from './registry.js';

let registry: ServiceRegistry | undefined;

/**
 * Registers the `scheme` (default `raftkv`) resolver with grpc-js, resolving through `r`.
 * Channels created afterwards with `raftkv:///<service>` follow the service's instances.
 *
 * @example
 *   installResolver(new ServiceRegistry(client));
 *   const greeter = new GreeterClient('raftkv:///greeter', credentials.createInsecure());
 */
export function installResolver(r: ServiceRegistry, scheme = 'raftkv'): void {
  registry = r;
  experimental.registerResolver(scheme, RaftkvResolver);
}

function endpointOf(address: string): experimental.Endpoint | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  return m === null ? undefined : { addresses: [{ host: m[1]!, port: Number(m[2]) }] };
}

class RaftkvResolver implements experimental.Resolver {
  private readonly instances: LiveMap<ServiceInstance>;
  private readonly unsubscribe: () => void;
  private readonly service: string;

  constructor(target: { path: string }, private readonly listener: experimental.ResolverListener, _options: ChannelOptions) {
    if (registry === undefined) throw new Error('installResolver() first');
    this.service = target.path.replace(/^\//, '');
    this.instances = registry.discover(this.service);
    this.unsubscribe = this.instances.onChange(() => this.report());
    this.instances.ready.then(() => this.report(), (err: unknown) => this.fail(String(err)));
  }

  private fail(details: string): void {
    this.listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details }), {}, null, '');
  }

  private report(): void {
    const endpoints = [...this.instances.snapshot.values()].map((i) => endpointOf(i.address)).filter((e) => e !== undefined);
    if (endpoints.length === 0) {
      this.fail(`no live instance of service ${this.service}`);
      return;
    }
    const config = experimental.statusOrFromValue({ loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] });
    this.listener(experimental.statusOrFromValue(endpoints), {}, config, '');
  }

  updateResolution(): void {
    if (this.instances.revision > 0n) this.report();
  }

  destroy(): void {
    this.unsubscribe();
    this.instances.close();
  }

  static getDefaultAuthority(target: { path: string }): string {
    return target.path.replace(/^\//, '');
  }
}
