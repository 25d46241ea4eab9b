import { removeDir } from './binaries.js';
import { startRaftkv } from './raftkv.js';
import { startEtcd } from './reference-etcd.js';
import type { ServerProcess, StartOptions } from './server-process.js';

export interface ServerPair {
  readonly etcd: ServerProcess;
  readonly raftkv: ServerProcess;
  /** Stops both and removes their data directories. */
  stop(): Promise<void>;
}

/**
 * Starts the reference etcd and raftkv side by side, with the same options, for a comparison.
 * If one of them fails to start, the other is stopped (and its data removed) before this throws.
 */
export async function startPair(opts: StartOptions = {}): Promise<ServerPair> {
  const [etcd, raftkv] = await Promise.allSettled([startEtcd(opts), startRaftkv(opts)]);
  if (etcd.status === 'rejected' || raftkv.status === 'rejected') {
    const started = [etcd, raftkv].filter((s): s is PromiseFulfilledResult<ServerProcess> => s.status === 'fulfilled');
    await Promise.all(started.map(async (s) => {
      await s.value.kill();
      if (opts.dataDir === undefined) removeDir(s.value.dataDir);
    }));
    throw (etcd.status === 'rejected' ? etcd.reason : (raftkv as PromiseRejectedResult).reason) as Error;
  }
  return {
    etcd: etcd.value,
    raftkv: raftkv.value,
    async stop() {
      await Promise.all([etcd.value.stop(), raftkv.value.stop()]);
      removeDir(etcd.value.dataDir);
      removeDir(raftkv.value.dataDir);
    },
  };
}
