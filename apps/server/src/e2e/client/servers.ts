// The two servers every client test runs against: the built raftkv and the reference etcd 3.4.
import { startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';

export type Kind = 'raftkv' | 'etcd';
export const KINDS: Kind[] = ['raftkv', 'etcd'];

export function startOne(kind: Kind): Promise<ServerProcess> {
  return kind === 'raftkv' ? startRaftkv() : startEtcd();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { eventually } from '@raftkv/testkit';
