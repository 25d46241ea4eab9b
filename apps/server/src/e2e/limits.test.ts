// Bad and oversized input gets etcd's status code and message, and the server keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, putRequest, txnRequest, type EtcdClient } from '@raftkv/testkit';
import { outcome } from '@raftkv/testkit';
import { type ServerProcess, startPair, type ServerPair } from '@raftkv/testkit';

describe('request limits as etcd', () => {
  let etcd: ServerProcess;
  let raftkv: ServerProcess;
  let pair: ServerPair | undefined;
  let e: EtcdClient;
  let r: EtcdClient;
  beforeAll(async () => {
    const args = ['--max-request-bytes', '65536', '--max-txn-ops', '8'];
    pair = await startPair({ args });
    ({ etcd, raftkv } = pair);
    e = connect(etcd.endpoint);
    r = connect(raftkv.endpoint);
  }, 60_000);
  afterAll(async () => {
    e?.close();
    r?.close();
    await pair?.stop();
  });

  const same = async (send: (c: EtcdClient) => Promise<unknown>) => {
    const [want, got] = [await outcome(send(e)), await outcome(send(r))];
    expect(got).toEqual(want);
    return got;
  };

  it('refuses a put over --max-request-bytes with "request is too large"', async () => {
    const got = await same((c) => c.put({ key: Buffer.from('big'), value: Buffer.alloc(70_000) }));
    expect(got).toEqual({ error: { code: 3, details: 'etcdserver: request is too large' } });
  });

  it('refuses a message beyond the gRPC limit with RESOURCE_EXHAUSTED', async () => {
    const send = (c: EtcdClient) => c.put({ key: Buffer.from('huge'), value: Buffer.alloc(700_000) });
    const [want, got] = [await outcome(send(e)), await outcome(send(r))];
    // grpc-go and grpc-js word the message differently; the code is what clients act on.
    expect((got as { error: { code: number } }).error.code).toBe(8);
    expect((want as { error: { code: number } }).error.code).toBe(8);
  });

  it('refuses a txn over --max-txn-ops and a txn with a duplicate key', async () => {
    const ops = Array.from({ length: 9 }, (_, i) => ({ requestPut: putRequest({ key: Buffer.from(`k${i}`) }) }));
    expect(await same((c) => c.txn(txnRequest({ success: ops }))))
      .toEqual({ error: { code: 3, details: 'etcdserver: too many operations in txn request' } });
    const dup = [{ requestPut: putRequest({ key: Buffer.from('d') }) }, { requestPut: putRequest({ key: Buffer.from('d') }) }];
    expect(await same((c) => c.txn(txnRequest({ success: dup }))))
      .toEqual({ error: { code: 3, details: 'etcdserver: duplicate key given in txn request' } });
  });

  it('refuses empty keys and keeps serving afterwards', async () => {
    expect(await same((c) => c.put({ key: Buffer.alloc(0), value: Buffer.from('v') })))
      .toEqual({ error: { code: 3, details: 'etcdserver: key is not provided' } });
    expect(await same((c) => c.range({ key: Buffer.alloc(0) })))
      .toEqual({ error: { code: 3, details: 'etcdserver: key is not provided' } });
    await same((c) => c.put({ key: Buffer.from('after'), value: Buffer.from('ok') }));
    const got = await same((c) => c.range({ key: Buffer.from('after') }));
    expect(JSON.stringify(got)).toContain('"value":"ok"');
  });
});
