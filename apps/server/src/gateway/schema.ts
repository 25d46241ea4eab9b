import { ENUMS, MESSAGES } from './schema.gen.js';

/** Proto3 scalar types etcd's messages use. */
export type ScalarKind = 'bytes' | 'string' | 'bool' | 'int64' | 'uint64' | 'int32' | 'uint32';

/** One field of a message, as the .proto declares it (declaration order is JSON output order). */
export interface FieldSchema {
  /** The proto name: what the gateway writes (grpc-gateway's OrigName) and reads. */
  readonly name: string;
  /** protoc's lowerCamel json_name, also read. */
  readonly json: string;
  readonly no: number;
  readonly kind: ScalarKind | 'enum' | 'message';
  /** Full name of the message or enum type. */
  readonly ref?: string;
  readonly repeated?: true;
  /** The oneof it belongs to. */
  readonly oneof?: string;
}

export type MessageSchema = readonly FieldSchema[];

export interface EnumSchema {
  /** The Go type name etcd's error messages print (`etcdserverpb.RangeRequest_SortOrder`). */
  readonly goName: string;
  readonly values: Readonly<Record<string, number>>;
}

/** A message type by full name (`etcdserverpb.RangeRequest`); throws for an unknown one (a bug). */
export function messageSchema(fullName: string): MessageSchema {
  const m = MESSAGES[fullName];
  if (m === undefined) throw new Error(`gateway: no schema for message ${fullName}`);
  return m;
}

export function enumSchema(fullName: string): EnumSchema {
  const e = ENUMS[fullName];
  if (e === undefined) throw new Error(`gateway: no schema for enum ${fullName}`);
  return e;
}

const enumNamesCache = new Map<string, Map<number, string>>();

/** Value → name of an enum (the first name declared for a value). */
export function enumNames(fullName: string): Map<number, string> {
  let names = enumNamesCache.get(fullName);
  if (names === undefined) {
    names = new Map();
    for (const [name, value] of Object.entries(enumSchema(fullName).values)) if (!names.has(value)) names.set(value, name);
    enumNamesCache.set(fullName, names);
  }
  return names;
}
