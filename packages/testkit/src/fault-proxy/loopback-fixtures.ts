// Loopback servers and clients for the fault proxy's own tests.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

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
 * nothing happens: pair it with `quiet` to check that nothing arrives.
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

/**
 * Resolves `'quiet'` if `p` has not settled after `ms`, else `p`'s value. For absence checks:
 * a slow machine can only make an absence check pass late, never fail it.
 */
export async function quiet<T>(p: Promise<T>, ms: number): Promise<T | 'quiet'> {
  let timer: NodeJS.Timeout | undefined;
  const q = new Promise<'quiet'>((resolve) => { timer = setTimeout(() => resolve('quiet'), ms); });
  try {
    return await Promise.race([p, q]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `predicate` every few ms until it holds; throws after `limitMs`. */
export async function until(predicate: () => boolean, what: string, limitMs = 5_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
