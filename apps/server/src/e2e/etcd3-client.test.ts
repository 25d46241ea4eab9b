// The `etcd3` npm client, used the way Node applications use it, against a raftkv process.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startRaftkv, type ServerProcess } from '@raftkv/testkit';

describe('etcd3 npm client', () => {
  let server: ServerProcess;
  let client: Etcd3;
  beforeAll(async () => {
    server = await startRaftkv();
    client = new Etcd3({ hosts: `http://${server.endpoint}` });
  }, 30_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
    if (server) removeDir(server.dataDir);
  });

  it('puts, gets, lists a prefix and deletes', async () => {
    await client.put('config/a').value('1');
    await client.put('config/b').value('2');
    await client.put('other').value('x');
    expect(await client.get('config/a').string()).toBe('1');
    expect(await client.getAll().prefix('config/').strings()).toEqual({ 'config/a': '1', 'config/b': '2' });
    expect(await client.getAll().prefix('config/').count()).toBe(2);
    await client.delete().key('config/a');
    expect(await client.get('config/a').string()).toBeNull();
  });

  it('runs a compare-and-swap transaction', async () => {
    await client.put('cas').value('old');
    const swapped = await client.if('cas', 'Value', '==', 'old').then(client.put('cas').value('new')).else(client.get('cas')).commit();
    expect(swapped.succeeded).toBe(true);
    const again = await client.if('cas', 'Value', '==', 'old').then(client.put('cas').value('newer')).commit();
    expect(again.succeeded).toBe(false);
    expect(await client.get('cas').string()).toBe('new');
  });

  it('reads an older revision', async () => {
    const first = await client.put('history').value('v1').exec();
    await client.put('history').value('v2');
    const old = await client.get('history').revision(first.header.revision).string();
    expect(old).toBe('v1');
  });
});
