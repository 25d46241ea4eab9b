// Who dialed an accepted connection. A fault proxy sits in front of one member's peer listener,
// and every other member dials the same advertised peer URL, so the listening port says nothing
// about the sender. Two ways to tell senders apart on loopback:
//
// - by remote address: the dialer binds a distinct loopback source address (127.0.0.2, ...);
//   Linux routes all of 127.0.0.0/8 to lo. Only works when the dialer can bind a local address:
//   grpc-js 1.14 (our peer transport) and etcd's rafthttp cannot, so for real members use
// - by process: Linux /proc maps the accepted connection's remote port to the socket inode of
//   the dialing process (/proc/net/tcp) and the inode to a pid (/proc/<pid>/fd). Needs no help
//   from the member, works for raftkv and real etcd alike; the proxy and the members must run
//   as the same user (or root) in the same network namespace.
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Socket } from 'node:net';

/**
 * Names the origin of an accepted socket (a member label such as `member-0`), or `undefined`
 * when it is not known. Called once per connection, before any byte is forwarded; it must not
 * read from the socket. A rejection is treated as `undefined`.
 */
export type OriginResolver = (socket: Socket) => Promise<string | undefined>;

/**
 * Origin by the remote IP address of the connection (`'127.0.0.2' -> 'member-1'`). IPv4-mapped
 * IPv6 forms (`::ffff:127.0.0.2`) match their IPv4 key. The map is read at every connection, so
 * the caller may change it.
 */
export function originByRemoteAddress(addresses: ReadonlyMap<string, string>): OriginResolver {
  return async (socket) => {
    const remote = socket.remoteAddress;
    if (remote === undefined) return undefined;
    return addresses.get(remote.startsWith('::ffff:') ? remote.slice('::ffff:'.length) : remote);
  };
}

/**
 * Origin by the process that owns the dialing socket (`pid -> 'member-0'`), Linux only. The map is
 * read at every connection, so a test updates it when it restarts a member (new pid). Only the
 * exact pids are matched, not their children: give the pid of the process that dials (spawn the
 * member binary directly, not through a shell that forks). Cost: one read of /proc/net/tcp and
 * one readlink per open file of each listed process, per accepted connection.
 */
export function originByProcess(pids: ReadonlyMap<number, string>): OriginResolver {
  return async (socket) => {
    if (pids.size === 0) return undefined;
    const { remoteAddress, remotePort, localAddress, localPort } = socket;
    if (remoteAddress === undefined || remotePort === undefined ||
        localAddress === undefined || localPort === undefined) return undefined;
    // The dialer's socket has our remote end as its local end.
    const inode = await tcpSocketInode(
      { address: remoteAddress, port: remotePort }, { address: localAddress, port: localPort });
    if (inode === undefined) return undefined;
    const link = `socket:[${inode}]`;
    for (const [pid, label] of pids) {
      if (await processOwnsSocket(pid, link)) return label;
    }
    return undefined;
  };
}

/** The first origin any of `resolvers` names, tried in order. */
export function firstOrigin(...resolvers: OriginResolver[]): OriginResolver {
  return async (socket) => {
    for (const resolve of resolvers) {
      const origin = await resolve(socket).catch(() => undefined);
      if (origin !== undefined) return origin;
    }
    return undefined;
  };
}

interface Endpoint { address: string; port: number }

// /proc/net/tcp prints an IPv4 address as one 32-bit word in host byte order (little-endian on
// the machines we run on: 127.0.0.1 is 0100007F) and the port as 4 hex digits.
function procIpv4(address: string): string | undefined {
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  const octets = v4.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined;
  return octets.reverse().map((o) => o.toString(16).padStart(2, '0')).join('').toUpperCase();
}

function procEndpoint(e: Endpoint, family: 4 | 6): string | undefined {
  const v4 = procIpv4(e.address);
  if (v4 === undefined) return undefined;
  const port = e.port.toString(16).padStart(4, '0').toUpperCase();
  // An IPv4-mapped address in /proc/net/tcp6: four host-order words, ::ffff:a.b.c.d.
  return family === 4 ? `${v4}:${port}` : `0000000000000000FFFF0000${v4}:${port}`;
}

async function tcpSocketInode(local: Endpoint, remote: Endpoint): Promise<string | undefined> {
  for (const family of [4, 6] as const) {
    const wantLocal = procEndpoint(local, family);
    const wantRemote = procEndpoint(remote, family);
    if (wantLocal === undefined || wantRemote === undefined) return undefined;
    const table = await readFile(family === 4 ? '/proc/net/tcp' : '/proc/net/tcp6', 'utf8').catch(() => '');
    for (const line of table.split('\n')) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
      const f = line.trim().split(/\s+/);
      if (f[1] === wantLocal && f[2] === wantRemote && f[9] !== undefined && f[9] !== '0') return f[9];
    }
  }
  return undefined;
}

async function processOwnsSocket(pid: number, link: string): Promise<boolean> {
  const dir = `/proc/${pid}/fd`;
  const fds = await readdir(dir).catch(() => [] as string[]);
  for (const fd of fds) {
    if (await readlink(`${dir}/${fd}`).catch(() => '') === link) return true;
  }
  return false;
}
