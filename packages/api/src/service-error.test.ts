// EtcdError.toServiceError() through a real grpc-js server and client: unary callbacks
// and a bidi stream both deliver etcd's code and exact message to the caller.
import { credentials, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdErrors, LeaseClient, LeaseService, etcdErrorFromMessage, etcdserverpb, type LeaseServer } from './index.js';

const impl: LeaseServer = {
  leaseGrant: (_call, cb) => cb(EtcdErrors.LeaseTTLTooLarge.toServiceError()),
  leaseRevoke: (_call, cb) => cb(EtcdErrors.LeaseNotFound.toServiceError()),
  leaseKeepAlive: (call) => {
    call.on('data', (req: etcdserverpb.LeaseKeepAliveRequest) => {
      if (req.ID === 1n) call.write(etcdserverpb.LeaseKeepAliveResponse.fromPartial({ ID: 1n, TTL: 5n }));
      else call.emit('error', EtcdErrors.NoLeader.toServiceError());
    });
  },
  leaseTimeToLive: (_call, cb) => cb(null, etcdserverpb.LeaseTimeToLiveResponse.fromPartial({ ID: 2n ** 63n - 1n, TTL: -1n })),
  leaseLeases: (_call, cb) => cb(null, etcdserverpb.LeaseLeasesResponse.fromPartial({})),
};

let server: Server;
let client: LeaseClient;

beforeAll(async () => {
  server = new Server();
  server.addService(LeaseService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  client = new LeaseClient(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  server?.forceShutdown();
});

describe('EtcdError over grpc-js', () => {
  it.each([
    ['leaseGrant', EtcdErrors.LeaseTTLTooLarge, status.OUT_OF_RANGE],
    ['leaseRevoke', EtcdErrors.LeaseNotFound, status.NOT_FOUND],
  ] as const)('unary %s: the client gets etcd’s code and exact message', async (method, want, code) => {
    const err = await new Promise<ServiceError | null>((resolve) => {
      if (method === 'leaseGrant') client.leaseGrant({ TTL: 1n, ID: 0n }, (e) => resolve(e));
      else client.leaseRevoke({ ID: 1n }, (e) => resolve(e));
    });
    expect(err?.code).toBe(code);
    expect(err?.details).toBe(want.message);
    expect(etcdErrorFromMessage(err?.details ?? '')).toBe(want);
  });

  it('a bidi stream answers, then ends with NoLeader after call.emit("error", err)', async () => {
    const stream = client.leaseKeepAlive();
    const got: etcdserverpb.LeaseKeepAliveResponse[] = [];
    const ended = new Promise<ServiceError>((resolve) => {
      stream.on('data', (r: etcdserverpb.LeaseKeepAliveResponse) => {
        got.push(r);
        stream.write({ ID: 2n });
      });
      stream.on('error', resolve);
    });
    stream.write({ ID: 1n });
    const err = await ended;
    expect(got).toEqual([etcdserverpb.LeaseKeepAliveResponse.fromPartial({ ID: 1n, TTL: 5n })]);
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toBe('etcdserver: no leader');
  });

  it('int64 extremes survive a real call (max ID, negative TTL)', async () => {
    const res = await new Promise<etcdserverpb.LeaseTimeToLiveResponse>((resolve, reject) =>
      client.leaseTimeToLive({ ID: 1n, keys: false }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(res.ID).toBe(2n ** 63n - 1n);
    expect(res.TTL).toBe(-1n);
  });
});
