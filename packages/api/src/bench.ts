// Codec throughput of the generated code: encode+decode per second, one core.
// Run: pnpm --filter @raftkv/api build && pnpm --filter @raftkv/api bench
// Prints numbers; asserts nothing (machines here are shared and noisy).
import { etcdserverpb } from './index.js';

function measure(name: string, fn: () => void, targetMs = 1000): void {
  for (let i = 0; i < 2000; i++) fn(); // warm up the JIT
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < targetMs) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
    elapsed = performance.now() - start;
  }
  const perSec = Math.round((ops / elapsed) * 1000);
  console.log(`${name.padEnd(40)} ${perSec.toLocaleString('en-US').padStart(12)} encode+decode/s`);
}

const put = etcdserverpb.PutRequest.fromPartial({
  key: Buffer.from('/registry/pods/default/web-0'),
  value: Buffer.alloc(128, 0x61),
  lease: 0x1234_5678_9abc_def0n,
});

const range = etcdserverpb.RangeResponse.fromPartial({
  header: { clusterId: 0xdead_beef_0000_0001n, memberId: 0x1111_2222_3333_4444n, revision: 123_456n, raftTerm: 7n },
  kvs: Array.from({ length: 100 }, (_, i) => ({
    key: Buffer.from(`/registry/pods/default/web-${i}`),
    value: Buffer.alloc(128, 0x62),
    createRevision: BigInt(1000 + i),
    modRevision: BigInt(2000 + i),
    version: 3n,
    lease: 0n,
  })),
  count: 100n,
});

const putBytes = etcdserverpb.PutRequest.encode(put).finish().length;
const rangeBytes = etcdserverpb.RangeResponse.encode(range).finish().length;
console.log(`node ${process.version}; PutRequest ${putBytes} B, RangeResponse(100 KVs) ${rangeBytes} B`);
measure('PutRequest', () => {
  etcdserverpb.PutRequest.decode(etcdserverpb.PutRequest.encode(put).finish());
});
measure('RangeResponse, 100 KVs', () => {
  etcdserverpb.RangeResponse.decode(etcdserverpb.RangeResponse.encode(range).finish());
});
