import { raftkvNodeArgs } from './binaries.js';
import { startServer, type ServerProcess, type StartOptions } from './server-process.js';

/** Starts the `raftkv` binary (built) on loopback ports; resolves once it serves clients. */
export function startRaftkv(opts: StartOptions = {}): Promise<ServerProcess> {
  const nodeArgs = raftkvNodeArgs(opts.raftkvBin);
  return startServer({
    label: 'raftkv',
    command: process.execPath,
    dataDirPrefix: 'raftkv-e2e-',
    args: (client, peer, dataDir) => [...nodeArgs, '--data-dir', dataDir,
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, ...(opts.args ?? [])],
  }, opts);
}
