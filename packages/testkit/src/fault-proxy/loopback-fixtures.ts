// Loopback servers and clients for the fault proxy's own tests.
import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { FaultProxy } from './fault-proxy.js';

/** A target that records what it receives and, if asked, echoes it back. */
export interface RecordingServer {
  readonly port: number;
  /** Every byte received, over all connections, in arrival order per connection. */
  received(): Buffer;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections whose FIN arrived. */
  readonly ended: number;
  close(): Promise<void>;
}

export async function recordingServer(opts: { echo: boolean }): Promise<RecordingServer> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  let ended = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (opts.echo) socket.write(chunk);
    });
    socket.on('end', () => {
      ended++;
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    port: address.port,
    received: () => Buffer.concat(chunks),
    get accepted() { return accepted; },
    get ended() { return ended; },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A connected client socket, optionally dialing from a given loopback source address. */
export function dial(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port, allowHalfOpen: true,
      ...(localAddress === undefined ? {} : { localAddress }) });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** What happened to a socket: `n` bytes read, a reset (error), or a clean end. */
export type ReadOutcome = { kind: 'data'; data: Buffer } | { kind: 'reset'; code: string } | { kind: 'end'; data: Buffer };

/**
 * Reads until `n` bytes have arrived, or the socket errors or ends first. Never settles while
 * nothing happens: pair it with `heldAtProxy` and `pending` to check that nothing arrives.
 */
export function read(socket: Socket, n: number): Promise<ReadOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (o: ReadOutcome): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      socket.pause();
      resolve(o);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= n) {
        const all = Buffer.concat(chunks);
        if (got > n) socket.unshift(all.subarray(n));
        done({ kind: 'data', data: all.subarray(0, n) });
      }
    };
    const onError = (err: NodeJS.ErrnoException): void => done({ kind: 'reset', code: err.code ?? err.message });
    const onEnd = (): void => done({ kind: 'end', data: Buffer.concat(chunks) });
    const onClose = (hadError: boolean): void => {
      if (!hadError) done({ kind: 'end', data: Buffer.concat(chunks) });
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.resume();
  });
}

/** Polls `predicate` every few ms until it holds; throws after `limitMs`. */
export async function until(predicate: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Bytes that arrived at `proxy` and that it has not read, optionally only on connections dialed
 * from local port `fromPort`: those in the kernel's receive queues of its accepted sockets (from
 * /proc/net/tcp) and those in Node's buffers of its paused sockets (`stats.bytesUnread`, over all
 * connections); 0 until every accepted connection was given its origin. A proxy in `blackhole`
 * reads nothing: once the bytes a test sent are counted here they are held, and cannot have
 * reached the target. Linux only.
 */
export function heldAtProxy(proxy: FaultProxy, fromPort?: number): number {
  // Not before every accepted connection was given its origin, and so its mode.
  const stats = proxy.stats;
  let classified = 0;
  for (const n of stats.connectionsByOrigin.values()) classified += n;
  if (classified < stats.connectionsAccepted) return 0;
  let inKernel = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const [local, remote, state, queues] = [f[1]!, f[2]!, f[3]!, f[4]!];
    if (state === '0A') continue; // the listener itself
    if (parseInt(local.split(':')[1]!, 16) !== proxy.port) continue;
    if (fromPort !== undefined && parseInt(remote.split(':')[1]!, 16) !== fromPort) continue;
    inKernel += parseInt(queues.split(':')[1]!, 16);
  }
  return inKernel + stats.bytesUnread;
}

/** `'pending'` if `p` has not settled by now (a turn of the event loop), else its value. */
export async function pending<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);
}
