// etcdctl watch against raftkv and against etcd: the same writes, the same output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type EtcdClient } from '@raftkv/testkit';
import { etcdctlWhile, type ServerProcess, startPair, type ServerPair } from '@raftkv/testkit';

const b = (s: string) => Buffer.from(s);

/** The history both servers get before any watch starts: revisions 2..7. */
async function history(c: EtcdClient): Promise<void> {
  await c.put({ key: b('cfg/a'), value: b('1') });
  await c.put({ key: b('cfg/b'), value: b('2') });
  await c.put({ key: b('other'), value: b('x') });
  await c.put({ key: b('cfg/a'), value: b('3') });
  await c.deleteRange({ key: b('cfg/b') });
  await c.txn({ success: [{ requestPut: { key: b('cfg/c'), value: b('4'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } }, { requestDeleteRange: { key: b('cfg/a'), rangeEnd: Buffer.alloc(0), prevKv: false } }] });
}

/** Writes made while the watch runs. */
async function live(c: EtcdClient): Promise<void> {
  await c.put({ key: b('cfg/d'), value: b('5') });
  await c.put({ key: b('zzz'), value: b('6') });
  await c.deleteRange({ key: b('cfg/'), rangeEnd: b('cfg0') });
}

const CASES: Array<{ name: string; args: string[]; input?: string }> = [
  { name: 'a prefix from revision 1 with previous values', args: ['watch', 'cfg/', '--prefix', '--rev=1', '--prev-kv'] },
  { name: 'one key from now on', args: ['watch', 'cfg/d'] },
  { name: 'a range [cfg/b, zzz) from revision 4', args: ['watch', 'cfg/b', 'zzz', '--rev=4'] },
  { name: 'every key from revision 6', args: ['watch', '--prefix', '', '--rev=6'] },
  // One watch only: etcdctl prints concurrent watches from two goroutines, interleaved at random.
  { name: 'interactive', args: ['watch', '-i'], input: 'watch cfg/ --prefix --rev=2 --prev-kv\n' },
  { name: 'interactive with a progress request', args: ['watch', '-i'], input: 'watch zzz\nprogress\n' },
];

describe('etcdctl watch prints what it prints against etcd', () => {
  let etcd: ServerProcess;
  let raftkv: ServerProcess;
  let pair: ServerPair | undefined;
  beforeAll(async () => {
    pair = await startPair();
    ({ etcd, raftkv } = pair);
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it.each(CASES)('$name', async ({ args, input }) => {
    const outputs: string[] = [];
    for (const server of [etcd, raftkv]) {
      const c = connect(server.endpoint);
      // Each case starts from fresh keys: wipe, then replay the same history.
      await c.deleteRange({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
      const base = Number((await c.status()).header!.revision);
      await history(c);
      const rebased = args.map((a) => a.replace(/^--rev=(\d+)$/, (_m, r: string) => `--rev=${base + Number(r) - 1}`));
      const rebasedInput = input?.replace(/--rev=(\d+)/g, (_m, r: string) => `--rev=${base + Number(r) - 1}`);
      const r = await etcdctlWhile(server.endpoint, rebased, () => live(c), rebasedInput === undefined ? {} : { input: rebasedInput });
      outputs.push(r.stdout);
      c.close();
    }
    expect(outputs[0]).not.toBe('');
    expect(outputs[1]).toBe(outputs[0]);
  }, 60_000);
});
