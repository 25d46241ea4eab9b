// --logger=zap --log-outputs: every line goes to each output, files included, as etcd's zap logger does;
// --logger=capnslog by name: capnslog's text lines, as etcd 3.4 writes by default.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { etcdctl, removeDir, startRaftkv, tempDir, type ServerProcess } from '@raftkv/testkit';

const servers: ServerProcess[] = [];
const dir = tempDir('raftkv-logs-');
afterAll(async () => {
  for (const s of servers) await s.stop();
  removeDir(dir);
});

describe('log outputs', () => {
  it('writes the same JSON lines to stderr and to a file', async () => {
    const file = join(dir, 'member.log');
    const server = await startRaftkv({ args: ['--logger=zap', `--log-outputs=stderr,${file}`, '--log-level=debug'] });
    servers.push(server);
    await server.stop();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines.some((l) => /ready to serve client requests/.test(l.msg))).toBe(true);
    expect(lines.some((l) => l.level === 'debug')).toBe(true);
    expect(lines.at(-1)!.msg).toMatch(/./);
    // stderr carried the same lines
    for (const l of lines.filter((x) => x.level !== 'debug').slice(0, 5)) expect(server.output()).toContain(`"msg":${JSON.stringify(l.msg)}`);
  });

  it("writes capnslog's text lines to stdout with --logger=capnslog, after etcd's deprecation warning", async () => {
    const server = await startRaftkv({ args: ['--logger=capnslog', '--log-outputs=stdout'] });
    servers.push(server);
    await server.stop();
    const out = server.output();
    expect(out).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} W \| raftkv: Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead$/m);
    expect(out).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} I \| raftkv: ready to serve client requests/m);
    expect(out).not.toMatch(/^\{"level"/m);
  });

  it('logs an apply slower than --experimental-warning-apply-duration, as etcd warns of an expensive request', async () => {
    const server = await startRaftkv({ args: ['--experimental-warning-apply-duration=1ns'] });
    servers.push(server);
    const put = await etcdctl(server.endpoint, ['put', 'slow', 'v']);
    expect(put.code).toBe(0);
    await server.stop();
    const slow = server.output().split('\n').filter((l) => l.includes('"msg":"apply request took too long"')).map((l) => JSON.parse(l) as Record<string, string>);
    expect(slow.some((l) => l['request'] === 'put' && l['expected-duration'] === '1ns' && /^[\d.]+(ns|µs|ms|s)$/.test(l['took']!))).toBe(true);
  });
});
