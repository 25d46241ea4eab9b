import { describe, expect, it } from 'vitest';
import { decodeViewing, etcdserverpb } from './index.js';

function txnOfPuts(n: number): Uint8Array {
  const success = [];
  for (let i = 0; i < n; i++) success.push({ requestPut: { key: Buffer.from(`k${i}`), value: Buffer.alloc(300, i) } });
  return etcdserverpb.TxnRequest.encode(etcdserverpb.TxnRequest.fromPartial({
    compare: [{ key: Buffer.from('c'), value: Buffer.from('v'), target: etcdserverpb.Compare_CompareTarget.VALUE }],
    success,
  })).finish();
}

describe('decodeViewing', () => {
  it('decodes the same message as decode, its bytes fields as views of the input', () => {
    const bytes = txnOfPuts(3);
    const copied = etcdserverpb.TxnRequest.decode(bytes);
    const viewed = decodeViewing(etcdserverpb.TxnRequest, bytes);
    expect(viewed).toEqual(copied);
    const value = viewed.success[2]!.requestPut!.value;
    expect(value).toEqual(Buffer.alloc(300, 2));
    expect(Buffer.isBuffer(value)).toBe(true);
    expect(value.buffer).toBe(bytes.buffer);
    expect(viewed.compare[0]!.key.buffer).toBe(bytes.buffer);
  });

  it('leaves plain decode copying', () => {
    const bytes = txnOfPuts(1);
    const copied = etcdserverpb.TxnRequest.decode(bytes);
    expect(copied.compare[0]!.key.buffer).not.toBe(bytes.buffer);
  });

  it('refuses a bytes field running past the end, as decode does', () => {
    const bytes = etcdserverpb.PutRequest.encode({ key: Buffer.from('key'), value: Buffer.from('value'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false }).finish();
    const cut = bytes.subarray(0, bytes.length - 2);
    expect(() => etcdserverpb.PutRequest.decode(cut)).toThrow();
    expect(() => decodeViewing(etcdserverpb.PutRequest, cut)).toThrow();
  });
});
