/**
 * etcd's messages between grpc-gateway v1's JSON and protobuf's wire format, as etcd 3.4's
 * gateway converts them (golang/protobuf 1.3's jsonpb with OrigName, defaults omitted).
 *
 * JSON → wire (requests): fields by proto name or lowerCamel name (both, the camel one wins),
 * unknown fields ignored, 64-bit integers as numbers or strings, bytes as standard base64 (or an
 * array of byte values, as Go's encoding/json allows), enums by name or number, null = unset.
 * Errors carry Go's texts ("json: cannot unmarshal ... into Go value of type ...").
 *
 * Wire → JSON (responses): proto names in declaration order, 64-bit integers as strings, bytes
 * as base64, enums by name (unknown values as bare numbers), zero values and empty lists left
 * out except in a oneof, strings escaped as Go's json.Marshal does.
 */
import { arrayElements, checkValid, goJsonString, goQuote, literalKind, objectMembers, unquote } from './go-json.js';
import { enumNames, enumSchema, messageSchema, type FieldSchema, type ScalarKind } from './schema.js';

/** A request body grpc-gateway refuses (HTTP 400, gRPC code 3), with Go's text. */
export class JsonDecodeError extends Error {}

/**
 * Nesting of messages deeper than this is refused (Go has only its scanner's 10000 levels;
 * nested txns are the only recursive messages, and etcd's server refuses deep ones anyway).
 */
const MAX_MESSAGE_DEPTH = 1000;

const GO_TYPE: Record<ScalarKind, string> = {
  bytes: '[]uint8', string: 'string', bool: 'bool', int64: 'int64', uint64: 'uint64', int32: 'int32', uint32: 'uint32',
};

const typeError = (what: string, goType: string): JsonDecodeError => new JsonDecodeError(`json: cannot unmarshal ${what} into Go value of type ${goType}`);

// ---------------------------------------------------------------- wire writing

class WireWriter {
  private readonly parts: Buffer[] = [];
  private bytes: number[] = [];
  length = 0;

  private flush(): void {
    if (this.bytes.length > 0) {
      this.parts.push(Buffer.from(this.bytes));
      this.bytes = [];
    }
  }

  varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      this.length++;
      x >>= 7n;
    }
    this.bytes.push(Number(x));
    this.length++;
  }

  tag(no: number, wireType: number): void {
    this.varint(BigInt((no << 3) | wireType));
  }

  lengthDelimited(no: number, data: Buffer): void {
    this.tag(no, 2);
    this.varint(BigInt(data.length));
    this.flush();
    this.parts.push(data);
    this.length += data.length;
  }

  finish(): Buffer {
    this.flush();
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
  }
}

// ---------------------------------------------------------------- JSON → wire

type Scalar = bigint | boolean | Buffer;

/** json.Unmarshal of `data` into a Go integer of `bits` (Go's number rules; quoted forms already unquoted by the caller). */
function unmarshalInteger(data: Buffer, signed: boolean, bits: 8 | 32 | 64, goType: string): bigint | undefined {
  const syntax = checkValid(data);
  if (syntax !== undefined) throw new JsonDecodeError(syntax);
  const kind = literalKind(data);
  if (kind === 'null') return undefined;
  if (kind !== 'number') throw typeError(kind, goType);
  const text = data.toString('latin1').trim();
  const ok = signed ? /^-?\d+$/.test(text) : /^\d+$/.test(text);
  const n = ok ? BigInt(text) : undefined;
  const [lo, hi] = signed ? [-(1n << BigInt(bits - 1)), (1n << BigInt(bits - 1)) - 1n] : [0n, (1n << BigInt(bits)) - 1n];
  if (n === undefined || n < lo || n > hi) throw typeError(`number ${text}`, goType);
  return n;
}

/** Go's base64.StdEncoding.Decode (padding required; \r and \n skipped), ported with its error offsets. */
function base64Std(src: Buffer): Buffer {
  return goBase64Decode(src, true);
}

/**
 * Go's base64 StdEncoding (`padded`) or RawStdEncoding decoding, with its errors
 * (`illegal base64 data at input byte N`, as JsonDecodeError).
 */
export function goBase64Decode(src: Buffer, padded: boolean): Buffer {
  // Well-formed input (the usual case): Node's decoder gives the same bytes.
  if (padded && src.length % 4 === 0 && WELL_FORMED_BASE64.test(src.toString('latin1'))) return Buffer.from(src.toString('latin1'), 'base64');
  const out: number[] = [];
  const corrupt = (at: number): JsonDecodeError => new JsonDecodeError(`illegal base64 data at input byte ${at}`);
  const isNewline = (c: number | undefined): boolean => c === 0x0a || c === 0x0d;
  let si = 0;
  for (;;) {
    // decodeQuantum
    const dbuf = [0, 0, 0, 0];
    let dlen = 4;
    let trailing: JsonDecodeError | undefined;
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return Buffer.from(out);
        if (j === 1 || padded) throw corrupt(si - j);
        dlen = j;
        break;
      }
      const c = src[si]!;
      si++;
      const v = BASE64_DECODE[c]!;
      if (v !== 0xff) {
        dbuf[j] = v;
        continue;
      }
      if (isNewline(c)) {
        j--;
        continue;
      }
      if (c !== 0x3d || !padded) throw corrupt(si - 1);
      if (j === 0 || j === 1) throw corrupt(si - 1);
      if (j === 2) {
        while (si < src.length && isNewline(src[si])) si++;
        if (si === src.length) throw corrupt(src.length);
        if (src[si] !== 0x3d) throw corrupt(si - 1);
        si++;
      }
      while (si < src.length && isNewline(src[si])) si++;
      if (si < src.length) trailing = corrupt(si);
      dlen = j;
      break;
    }
    if (trailing) throw trailing;
    const val = (dbuf[0]! << 18) | (dbuf[1]! << 12) | (dbuf[2]! << 6) | dbuf[3]!;
    if (dlen >= 2) out.push((val >> 16) & 0xff);
    if (dlen >= 3) out.push((val >> 8) & 0xff);
    if (dlen === 4) out.push(val & 0xff);
    if (dlen < 4) return Buffer.from(out);
  }
}

const WELL_FORMED_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const BASE64_DECODE = (() => {
  const table = new Uint8Array(256).fill(0xff);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/** One non-repeated value of a field (or one element of a repeated one), as jsonpb decodes it. */
function decodeScalar(field: FieldSchema, raw: Buffer): Scalar | undefined {
  const kind = field.kind;
  if (kind === 'enum') {
    const schema = enumSchema(field.ref!);
    if (raw[0] === 0x22) {
      // jsonpb looks the name up between the quotes, escapes and all.
      const name = raw.subarray(1, raw.length - 1);
      const value = Object.hasOwn(schema.values, name.toString('latin1')) ? schema.values[name.toString('latin1')] : undefined;
      if (value === undefined || !/^[\x20-\x7e]*$/.test(name.toString('latin1'))) throw new JsonDecodeError(`unknown value ${goQuote(name)} for enum ${schema.goName}`);
      return BigInt(value);
    }
    return unmarshalInteger(raw, true, 32, schema.goName);
  }
  if (kind === 'int64' || kind === 'uint64' || kind === 'int32' || kind === 'uint32') {
    const data = raw[0] === 0x22 ? raw.subarray(1, raw.length - 1) : raw;
    return unmarshalInteger(data, kind[0] === 'i', kind.endsWith('64') ? 64 : 32, GO_TYPE[kind]);
  }
  const lk = literalKind(raw);
  if (lk === 'null') return undefined;
  if (kind === 'bool') {
    if (lk !== 'bool') throw typeError(lk, 'bool');
    return raw[0] === 0x74;
  }
  if (kind === 'string') {
    if (lk !== 'string') throw typeError(lk, 'string');
    return unquote(raw);
  }
  // bytes: a base64 string, or (Go's encoding/json) an array of byte values.
  if (lk === 'string') return base64Std(unquote(raw));
  if (lk !== 'array') throw typeError(lk, '[]uint8');
  const elements = arrayElements(raw);
  const out = Buffer.alloc(elements.length);
  // Go decodes every element and reports the first error.
  let firstError: unknown;
  elements.forEach((e, i) => {
    try {
      out[i] = Number(unmarshalInteger(e, false, 8, 'uint8') ?? 0n);
    } catch (err) {
      firstError ??= err;
    }
  });
  if (firstError) throw firstError;
  return out;
}

function writeScalar(w: WireWriter, field: FieldSchema, value: Scalar): void {
  if (value instanceof Buffer) w.lengthDelimited(field.no, value);
  else {
    w.tag(field.no, 0);
    w.varint(typeof value === 'boolean' ? (value ? 1n : 0n) : (value as bigint));
  }
}

const isZero = (v: Scalar): boolean => (v instanceof Buffer ? v.length === 0 : v === false || v === 0n);

/** jsonpb's decoding of a message from a JSON value (Go's types in the errors), encoded on the wire. */
function decodeMessage(typeName: string, raw: Buffer, depth: number): Buffer {
  if (depth > MAX_MESSAGE_DEPTH) throw new JsonDecodeError('exceeded max depth');
  const kind = literalKind(raw);
  if (kind === 'null') return Buffer.alloc(0);
  if (kind !== 'object') throw typeError(kind, 'map[string]json.RawMessage');
  const members = objectMembers(raw);
  const w = new WireWriter();
  const schema = messageSchema(typeName);
  // Plain fields in declaration order first, then oneof members (jsonpb's order).
  const consume = (f: FieldSchema): Buffer | undefined => {
    const orig = members.get(f.name);
    const camel = members.get(f.json);
    members.delete(f.name);
    members.delete(f.json);
    return camel ?? orig;
  };
  const oneofs = new Map<string, () => void>();
  for (const pass of [false, true]) {
    for (const f of schema) {
      if ((f.oneof !== undefined) !== pass) continue;
      const rawValue = consume(f);
      if (rawValue === undefined) continue;
      if (f.repeated) {
        const lk = literalKind(rawValue);
        if (lk === 'null') continue;
        if (lk !== 'array') throw typeError(lk, '[]json.RawMessage');
        const elements = arrayElements(rawValue);
        if (f.kind === 'message') {
          for (const e of elements) w.lengthDelimited(f.no, decodeMessage(f.ref!, e, depth + 1));
        } else if (f.kind === 'bytes' || f.kind === 'string') {
          for (const e of elements) w.lengthDelimited(f.no, (decodeScalar(f, e) as Buffer | undefined) ?? Buffer.alloc(0));
        } else if (elements.length > 0) {
          const packed = new WireWriter();
          for (const e of elements) {
            const v = decodeScalar(f, e) ?? 0n;
            packed.varint(typeof v === 'boolean' ? (v ? 1n : 0n) : (v as bigint));
          }
          w.lengthDelimited(f.no, packed.finish());
        }
        continue;
      }
      if (f.kind === 'message') {
        if (literalKind(rawValue) === 'null') continue;
        const encoded = decodeMessage(f.ref!, rawValue, depth + 1);
        if (f.oneof) oneofs.set(f.oneof, () => w.lengthDelimited(f.no, encoded));
        else w.lengthDelimited(f.no, encoded);
        continue;
      }
      const value = decodeScalar(f, rawValue);
      if (f.oneof) {
        // A oneof member set to null is still set (to its zero value), as in Go.
        const v: Scalar = value ?? (f.kind === 'bytes' || f.kind === 'string' ? Buffer.alloc(0) : f.kind === 'bool' ? false : 0n);
        oneofs.set(f.oneof, () => writeScalar(w, f, v));
      } else if (value !== undefined && !isZero(value)) {
        writeScalar(w, f, value);
      }
    }
  }
  for (const write of oneofs.values()) write();
  return w.finish();
}

/**
 * A request message's wire bytes from one JSON value of the body (as grpc-gateway's jsonpb
 * decodes it into etcd's Go structs, then gRPC marshals them).
 *
 * @param typeName full proto name, e.g. `etcdserverpb.RangeRequest`
 * @throws JsonDecodeError with Go's text for a value of the wrong type, bad base64, an unknown enum name
 */
export function jsonToWire(typeName: string, raw: Buffer): Buffer {
  return decodeMessage(typeName, raw, 0);
}

// ---------------------------------------------------------------- wire → JSON

class WireReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array, private readonly end = buf.length) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('gateway: truncated varint in a response');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
      shift += 7n;
      if (shift > 63n) throw new Error('gateway: varint too long in a response');
    }
  }

  bytes(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.end) throw new Error('gateway: truncated field in a response');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`gateway: wire type ${wireType} in a response`);
  }
}

type WireValue = bigint | Uint8Array;

function scalarJson(f: FieldSchema, v: WireValue): string {
  switch (f.kind) {
    case 'bytes': return `"${Buffer.from(v as Uint8Array).toString('base64')}"`;
    case 'string': return goJsonString(v as Uint8Array);
    case 'bool': return (v as bigint) !== 0n ? 'true' : 'false';
    case 'int64': return `"${BigInt.asIntN(64, v as bigint)}"`;
    case 'uint64': return `"${v as bigint}"`;
    case 'int32': return String(BigInt.asIntN(32, v as bigint));
    case 'uint32': return String(BigInt.asUintN(32, v as bigint));
    case 'enum': {
      const n = Number(BigInt.asIntN(32, v as bigint));
      const name = enumNames(f.ref!).get(n);
      return name === undefined ? String(n) : `"${name}"`;
    }
    default: throw new Error(`gateway: ${f.kind} is not a scalar`);
  }
}

const isZeroWire = (f: FieldSchema, v: WireValue): boolean => (v instanceof Uint8Array ? v.length === 0 : f.kind === 'int32' || f.kind === 'enum' ? BigInt.asIntN(32, v) === 0n : v === 0n);

/**
 * A response message as grpc-gateway writes it (etcd 3.4's JSON).
 *
 * @throws Error for bytes that are not a valid message of the type (a server bug)
 */
export function wireToJson(typeName: string, data: Uint8Array): string {
  const schema = messageSchema(typeName);
  const byNumber = new Map<number, FieldSchema>();
  for (const f of schema) byNumber.set(f.no, f);
  const values = new Map<FieldSchema, WireValue[]>();
  /** Which member of each oneof was set last. */
  const oneofSet = new Map<string, FieldSchema>();
  const r = new WireReader(data);
  while (!r.done) {
    const tag = r.varint();
    const no = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    const f = byNumber.get(no);
    if (f === undefined) {
      r.skip(wireType);
      continue;
    }
    let list = values.get(f);
    if (list === undefined) values.set(f, (list = []));
    if (wireType === 2 && f.repeated && f.kind !== 'message' && f.kind !== 'bytes' && f.kind !== 'string') {
      const packed = new WireReader(r.bytes());
      while (!packed.done) list.push(packed.varint());
    } else if (wireType === 2) {
      list.push(r.bytes());
    } else if (wireType === 0) {
      list.push(r.varint());
    } else {
      r.skip(wireType);
      continue;
    }
    if (f.oneof) oneofSet.set(f.oneof, f);
  }
  const parts: string[] = [];
  for (const f of schema) {
    const list = values.get(f);
    if (list === undefined || list.length === 0) continue;
    if (f.oneof !== undefined && oneofSet.get(f.oneof) !== f) continue;
    if (f.repeated) {
      const items = list.map((v) => (f.kind === 'message' ? wireToJson(f.ref!, v as Uint8Array) : scalarJson(f, v)));
      parts.push(`"${f.name}":[${items.join(',')}]`);
      continue;
    }
    const v = list[list.length - 1]!;
    if (f.kind === 'message') {
      // Several occurrences of a message field merge (protobuf's rule).
      const merged = list.length === 1 ? v as Uint8Array : Buffer.concat(list as Uint8Array[]);
      parts.push(`"${f.name}":${wireToJson(f.ref!, merged)}`);
      continue;
    }
    if (f.oneof === undefined && isZeroWire(f, v)) continue;
    parts.push(`"${f.name}":${scalarJson(f, v)}`);
  }
  return `{${parts.join(',')}}`;
}
