// --max-concurrent-streams reaches the client connection: the server advertises it in its HTTP/2
// SETTINGS and refuses a stream beyond it, as etcd's grpc-go server does.
import { connect as http2Connect, constants } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRaftkv, type ServerProcess } from '@raftkv/testkit';

describe('--max-concurrent-streams', () => {
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    server = await startRaftkv({ args: ['--max-concurrent-streams', '2'] });
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('is advertised to clients and a third concurrent stream is refused', async () => {
    const session = http2Connect(`http://${server!.endpoint}`);
    try {
      // A Watch stream with one create request (key "a"): the server answers "created" and keeps it open.
      const createA = Buffer.from([0, 0, 0, 0, 5, 0x0a, 3, 0x0a, 1, 0x61]);
      const open = (): ReturnType<typeof session.request> => {
        const s = session.request({
          [constants.HTTP2_HEADER_METHOD]: 'POST', [constants.HTTP2_HEADER_PATH]: '/etcdserverpb.Watch/Watch',
          'content-type': 'application/grpc', te: 'trailers',
        }, { endStream: false });
        s.write(createA);
        return s;
      };
      const responded = (s: ReturnType<typeof open>): Promise<boolean> => new Promise((resolve) => {
        s.once('response', () => resolve(true));
        s.once('error', () => resolve(false));
        s.once('close', () => resolve(false));
        setTimeout(() => resolve(false), 1500);
      });
      // The client listener hands the connection to the gRPC server at the first request,
      // whose SETTINGS then carry the limit.
      const a = open();
      expect(await responded(a)).toBe(true);
      expect(session.remoteSettings.maxConcurrentStreams).toBe(2);
      const b = open();
      expect(await responded(b)).toBe(true);
      // A third concurrent stream: the client holds it back or the server refuses it; it is never served.
      const c = open();
      expect(await responded(c)).toBe(false);
      for (const s of [a, b, c]) s.close();
    } finally {
      session.destroy();
    }
  });
});
