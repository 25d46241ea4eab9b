// Benchmark (not a test): the HTTP/JSON gateway, raftkv vs etcd 3.4 in one run, one member each.
//   range 1 / put 1:   one request at a time over a keep-alive HTTP/1.1 connection (p50, p99 ms)
//   range 32 / put 32: 32 requests in flight over 32 keep-alive connections (requests/s)
//   watch fan-out:     events/s delivered to 16 gateway watchers (/v3/watch) of one key while
//                      8 writers put to it through the gateway
// Usage: pnpm bench:gateway  (BENCH_SECONDS=3)
import http from 'node:http';
import { removeDir, startEtcd, startRaftkv, type ServerProcess } from '@raftkv/testkit';
import { raftkvBin } from '../raftkv-binary.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function post(agent: http.Agent, base: URL, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: base.hostname, port: base.port, path, method: 'POST', agent, headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Requests/s and latencies of `body` for SECONDS with `inFlight` workers, one keep-alive connection each. */
async function run(base: URL, path: string, body: (i: number) => string, inFlight: number): Promise<{ rate: number; p50: number; p99: number }> {
  const until = performance.now() + SECONDS * 1000;
  const latencies: number[] = [];
  let i = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (performance.now() < until) {
      const t = performance.now();
      const status = await post(agent, base, path, body(i++));
      if (status !== 200) throw new Error(`${path}: HTTP ${status}`);
      latencies.push(performance.now() - t);
    }
    agent.destroy();
  }));
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / SECONDS, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** Events/s seen by `watchers` gateway watch streams while 8 writers put to the watched key. */
async function watchFanOut(base: URL, watchers: number): Promise<number> {
  let events = 0;
  const requests: http.ClientRequest[] = [];
  await Promise.all(Array.from({ length: watchers }, () => new Promise<void>((resolve, reject) => {
    const req = http.request({ hostname: base.hostname, port: base.port, path: '/v3/watch', method: 'POST' }, (res) => {
      let pending = '';
      res.on('data', (c: Buffer) => {
        pending += c.toString();
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const l of lines) {
          if (l.includes('"created":true')) resolve();
          else events += (l.match(/"kv":/g) ?? []).length;
        }
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify({ create_request: { key: b64('watched') } }));
    requests.push(req);
  })));
  const start = events;
  await run(base, '/v3/kv/put', (i) => JSON.stringify({ key: b64('watched'), value: b64(`v${i}`) }), 8);
  const seen = events - start;
  for (const r of requests) r.destroy();
  return seen / SECONDS;
}

async function bench(kind: 'raftkv' | 'etcd'): Promise<Record<string, string>> {
  const server: ServerProcess = kind === 'raftkv' ? await startRaftkv({ raftkvBin }) : await startEtcd();
  try {
    const base = new URL(server.clientUrl);
    await post(new http.Agent(), base, '/v3/kv/put', JSON.stringify({ key: b64('k'), value: b64('v'.repeat(100)) }));
    const range = JSON.stringify({ key: b64('k') });
    const r1 = await run(base, '/v3/kv/range', () => range, 1);
    const p1 = await run(base, '/v3/kv/put', (i) => JSON.stringify({ key: b64(`p${i % 1000}`), value: b64('v'.repeat(100)) }), 1);
    const r32 = await run(base, '/v3/kv/range', () => range, 32);
    const p32 = await run(base, '/v3/kv/put', (i) => JSON.stringify({ key: b64(`p${i % 1000}`), value: b64('v'.repeat(100)) }), 32);
    const fan = await watchFanOut(base, 16);
    const ms = (x: number): string => x.toFixed(2);
    return {
      'range, 1 in flight: p50 / p99 ms': `${ms(r1.p50)} / ${ms(r1.p99)}`,
      'put, 1 in flight: p50 / p99 ms': `${ms(p1.p50)} / ${ms(p1.p99)}`,
      'range, 32 in flight: req/s': r32.rate.toFixed(0),
      'put, 32 in flight: req/s': p32.rate.toFixed(0),
      'watch, 16 gateway watchers: events/s': fan.toFixed(0),
    };
  } finally {
    await server.stop();
    removeDir(server.dataDir);
  }
}

const results = { raftkv: await bench('raftkv'), etcd: await bench('etcd') };
console.log(`gateway bench, ${SECONDS} s per cell`);
console.log('| | raftkv | etcd 3.4 |\n|---|---|---|');
for (const row of Object.keys(results.raftkv)) console.log(`| ${row} | ${results.raftkv[row]} | ${results.etcd[row]} |`);
