import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { messageSchema, enumSchema } from './schema.js';
import { buildSchemaModule } from './test-support/schema-source.js';

const PROTO_DIR = fileURLToPath(new URL('../../../../packages/api/proto/', import.meta.url));
const GENERATED = fileURLToPath(new URL('./schema.gen.ts', import.meta.url));
const PROTOS = ['mvccpb/kv.proto', 'authpb/auth.proto', 'etcdserverpb/rpc.proto', 'v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto'];

describe('gateway schema', () => {
  it('schema.gen.ts is what @raftkv/api\'s .proto files give (RAFTKV_UPDATE_SCHEMA=1 rewrites it)', () => {
    const text = buildSchemaModule(PROTOS.map((p) => readFileSync(PROTO_DIR + p, 'utf8')));
    if (process.env['RAFTKV_UPDATE_SCHEMA'] === '1') writeFileSync(GENERATED, text);
    expect(readFileSync(GENERATED, 'utf8')).toBe(text);
  });

  it.each([
    ['etcdserverpb.RangeRequest', 'sort_order', { json: 'sortOrder', no: 5, kind: 'enum', ref: 'etcdserverpb.RangeRequest.SortOrder' }],
    ['etcdserverpb.Compare', 'range_end', { json: 'rangeEnd', no: 64, kind: 'bytes' }],
    ['etcdserverpb.Compare', 'mod_revision', { no: 6, kind: 'int64', oneof: 'target_union' }],
    ['etcdserverpb.RequestOp', 'request_txn', { no: 4, kind: 'message', ref: 'etcdserverpb.TxnRequest', oneof: 'request' }],
    ['etcdserverpb.RangeResponse', 'kvs', { no: 2, kind: 'message', ref: 'mvccpb.KeyValue', repeated: true }],
    ['etcdserverpb.Member', 'peerURLs', { json: 'peerURLs', no: 3, kind: 'string', repeated: true }],
    ['etcdserverpb.LeaseGrantResponse', 'TTL', { json: 'TTL', kind: 'int64' }],
  ])('%s.%s', (message, field, expected) => {
    expect(messageSchema(message).find((f) => f.name === field)).toMatchObject(expected);
  });

  it('enums carry the Go type name etcd\'s errors print', () => {
    expect(enumSchema('etcdserverpb.AlarmRequest.AlarmAction')).toEqual({ goName: 'etcdserverpb.AlarmRequest_AlarmAction', values: { GET: 0, ACTIVATE: 1, DEACTIVATE: 2 } });
    expect(enumSchema('mvccpb.Event.EventType').goName).toBe('mvccpb.Event_EventType');
    expect(enumSchema('etcdserverpb.AlarmType').goName).toBe('etcdserverpb.AlarmType');
  });
});
