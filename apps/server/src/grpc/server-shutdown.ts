import http2 from 'node:http2';
import type { Server } from '@grpc/grpc-js';

/**
 * grpc-js options of the client gRPC server that are about speed, not behaviour. Channelz off:
 * its per-call counters, timestamps and wrapped session handler ran on every request, and nothing
 * reads them (etcd serves no channelz). Shut such a server down with {@link shutdownGrpcServer}.
 */
export const LEAN_GRPC_SERVER_OPTIONS = { 'grpc.enable_channelz': 0 } as const;

/**
 * Lets open calls finish for `graceMs`, then cancels the rest (open streams never finish), and
 * resolves once every connection is closed.
 *
 * grpc-js 1.14's `forceShutdown` destroys only the sessions its channelz handler recorded; with
 * channelz off it recorded none, and a session with an open Watch stream would keep the server
 * open forever. So the sessions of every listener and connection injector are destroyed here.
 */
export function shutdownGrpcServer(server: Server, graceMs: number): Promise<void> {
  // Taken now: tryShutdown forgets a connection injector's listener (and its sessions) as soon as
  // that listener, which never listened, reports itself closed.
  const sessions = new Set(openSessions(server));
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      for (const session of openSessions(server)) sessions.add(session);
      for (const session of sessions) if (!session.destroyed) session.destroy(undefined, http2.constants.NGHTTP2_CANCEL);
      server.forceShutdown();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** The HTTP/2 sessions grpc-js keeps per listener and injector (its private `http2Servers`). */
function openSessions(server: Server): http2.ServerHttp2Session[] {
  const servers = (server as unknown as { http2Servers?: Map<unknown, { sessions?: Set<http2.ServerHttp2Session> }> }).http2Servers;
  const sessions: http2.ServerHttp2Session[] = [];
  for (const entry of servers?.values() ?? []) for (const s of entry.sessions ?? []) sessions.push(s);
  return sessions;
}
