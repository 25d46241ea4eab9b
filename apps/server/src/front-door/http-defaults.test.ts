// The default HTTP answers on the client URLs, compared with real etcd 3.4.23's, request by
// request: status, body and the headers etcd sets (Date and connection headers aside).
import { Server } from '@grpc/grpc-js';
import { removeDir, startEtcd, type ServerProcess } from '@raftkv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFrontDoor, type FrontDoor } from './front-door.js';

const COMPARED_HEADERS = ['content-type', 'content-length', 'allow', 'x-content-type-options',
  'access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers'];

async function ask(base: string, path: string, method: string): Promise<{ status: number; headers: Record<string, string | null>; body: string }> {
  const res = await fetch(`${base}${path}`, { method });
  const headers = Object.fromEntries(COMPARED_HEADERS.map((h) => [h, res.headers.get(h)]));
  return { status: res.status, headers, body: await res.text() };
}

describe('default HTTP answers, raftkv vs real etcd', () => {
  let etcd: ServerProcess;
  let door: FrontDoor;
  let server: Server;

  beforeAll(async () => {
    // Without its gateway: in raftkv the gateway is a handler put in front of these defaults.
    etcd = await startEtcd({ args: ['--enable-grpc-gateway=false'] });
    server = new Server();
    door = await openFrontDoor({ grpcServer: server, clientUrls: [new URL('http://127.0.0.1:0')] });
  }, 60_000);
  afterAll(async () => {
    await door?.close();
    server?.forceShutdown();
    await etcd?.stop();
    if (etcd) removeDir(etcd.dataDir);
  });

  it.each([
    ['/version', 'GET'], ['/version?x=1', 'GET'], ['/version', 'POST'], ['/version', 'HEAD'], ['/version', 'OPTIONS'],
    ['/version/', 'GET'], ['/nope', 'GET'], ['/nope', 'HEAD'], ['/nope', 'OPTIONS'], ['/', 'GET'], ['/v3beta/nope', 'GET'], ['/v3/nope', 'POST'],
    ['/health/', 'GET'], ['/versions', 'GET'],
  ])('%s %s', async (path, method) => {
    const ours = await ask(`http://${door.endpoints[0]}`, path, method);
    const theirs = await ask(`http://${etcd.endpoint}`, path, method);
    expect(ours).toEqual(theirs);
  });
});
