/**
 * Go's encoding/json as etcd's gateway runs it (Go 1.19): its byte scanner with its exact error
 * texts, json.Decoder's reading of successive values from a stream, json.Unmarshal's validity
 * check, string unquoting (invalid UTF-8 → U+FFFD per byte) and string quoting (HTML-safe). The
 * gateway answers bad JSON with these texts, as etcd does.
 */

/** Go's scanner results that matter here. */
const enum Scan { Continue, BeginLiteral, BeginObject, ObjectKey, ObjectValue, EndObject, BeginArray, ArrayValue, EndArray, SkipSpace, End, Error }
const enum Parse { ObjectKey, ObjectValue, ArrayValue }
const enum St {
  BeginValue, BeginValueOrEmpty, BeginStringOrEmpty, BeginString, EndValue, EndTop, InString, InStringEsc,
  EscU, EscU1, EscU12, EscU123, Neg, One, Zero, Dot, Dot0, E, ESign, E0,
  T, Tr, Tru, F, Fa, Fal, Fals, N, Nu, Nul, Error,
}

/** Go's limit on nesting ("exceeded max depth"). */
const MAX_NESTING_DEPTH = 10_000;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** A port of encoding/json's scanner: one byte at a time, resumable. */
export class GoScanner {
  private state: St = St.BeginValue;
  private parseState: Parse[] = [];
  /** The syntax error, once one was found. */
  err: string | undefined;
  endTop = false;

  reset(): void {
    this.state = St.BeginValue;
    this.parseState = [];
    this.err = undefined;
    this.endTop = false;
  }

  /** json's scanner.eof: the input ended. */
  eof(): Scan {
    if (this.err !== undefined) return Scan.Error;
    if (this.endTop) return Scan.End;
    this.step(0x20);
    if (this.endTop) return Scan.End;
    if (this.err === undefined) this.err = 'unexpected end of JSON input';
    return Scan.Error;
  }

  private error(c: number, context: string): Scan {
    this.state = St.Error;
    this.err = `invalid character ${quoteChar(c)} ${context}`;
    return Scan.Error;
  }

  private push(c: number, ps: Parse, success: Scan): Scan {
    this.parseState.push(ps);
    return this.parseState.length <= MAX_NESTING_DEPTH ? success : this.error(c, 'exceeded max depth');
  }

  private pop(): void {
    this.parseState.pop();
    if (this.parseState.length === 0) {
      this.state = St.EndTop;
      this.endTop = true;
    } else {
      this.state = St.EndValue;
    }
  }

  private literal(c: number, want: number, next: St, name: string): Scan {
    if (c === want) {
      this.state = next;
      return Scan.Continue;
    }
    return this.error(c, `in literal ${name} (expecting ${quoteChar(want)})`);
  }

  /**
   * Inside a string, the index of the next byte the scanner must see (a quote, a backslash or a
   * control character) from `i`: the bytes between need no state change. Elsewhere, `i`.
   */
  skipStringRun(buf: Uint8Array, i: number, end: number): number {
    if (this.state !== St.InString) return i;
    while (i < end) {
      const c = buf[i]!;
      if (c === 0x22 || c === 0x5c || c < 0x20) break;
      i++;
    }
    return i;
  }

  step(c: number): Scan {
    switch (this.state) {
      case St.BeginValueOrEmpty:
        if (isSpace(c)) return Scan.SkipSpace;
        if (c === 0x5d) return this.endValue(c);
        return this.beginValue(c);
      case St.BeginValue: return this.beginValue(c);
      case St.BeginStringOrEmpty:
        if (isSpace(c)) return Scan.SkipSpace;
        if (c === 0x7d) {
          this.parseState[this.parseState.length - 1] = Parse.ObjectValue;
          return this.endValue(c);
        }
        return this.beginString(c);
      case St.BeginString: return this.beginString(c);
      case St.EndValue: return this.endValue(c);
      case St.EndTop: return this.endTop_(c);
      case St.InString:
        if (c === 0x22) { this.state = St.EndValue; return Scan.Continue; }
        if (c === 0x5c) { this.state = St.InStringEsc; return Scan.Continue; }
        if (c < 0x20) return this.error(c, 'in string literal');
        return Scan.Continue;
      case St.InStringEsc:
        switch (c) {
          case 0x62: case 0x66: case 0x6e: case 0x72: case 0x74: case 0x5c: case 0x2f: case 0x22:
            this.state = St.InString;
            return Scan.Continue;
          case 0x75:
            this.state = St.EscU;
            return Scan.Continue;
        }
        return this.error(c, 'in string escape code');
      case St.EscU: case St.EscU1: case St.EscU12: case St.EscU123:
        if (!isHex(c)) return this.error(c, 'in \\u hexadecimal character escape');
        this.state = this.state === St.EscU123 ? St.InString : this.state + 1;
        return Scan.Continue;
      case St.Neg:
        if (c === 0x30) { this.state = St.Zero; return Scan.Continue; }
        if (c >= 0x31 && c <= 0x39) { this.state = St.One; return Scan.Continue; }
        return this.error(c, 'in numeric literal');
      case St.One:
        if (isDigit(c)) return Scan.Continue;
        return this.zero(c);
      case St.Zero: return this.zero(c);
      case St.Dot:
        if (isDigit(c)) { this.state = St.Dot0; return Scan.Continue; }
        return this.error(c, 'after decimal point in numeric literal');
      case St.Dot0:
        if (isDigit(c)) return Scan.Continue;
        if (c === 0x65 || c === 0x45) { this.state = St.E; return Scan.Continue; }
        return this.endValue(c);
      case St.E:
        if (c === 0x2b || c === 0x2d) { this.state = St.ESign; return Scan.Continue; }
        return this.eSign(c);
      case St.ESign: return this.eSign(c);
      case St.E0:
        if (isDigit(c)) return Scan.Continue;
        return this.endValue(c);
      case St.T: return this.literal(c, 0x72, St.Tr, 'true');
      case St.Tr: return this.literal(c, 0x75, St.Tru, 'true');
      case St.Tru: return this.literal(c, 0x65, St.EndValue, 'true');
      case St.F: return this.literal(c, 0x61, St.Fa, 'false');
      case St.Fa: return this.literal(c, 0x6c, St.Fal, 'false');
      case St.Fal: return this.literal(c, 0x73, St.Fals, 'false');
      case St.Fals: return this.literal(c, 0x65, St.EndValue, 'false');
      case St.N: return this.literal(c, 0x75, St.Nu, 'null');
      case St.Nu: return this.literal(c, 0x6c, St.Nul, 'null');
      case St.Nul: return this.literal(c, 0x6c, St.EndValue, 'null');
      case St.Error: return Scan.Error;
    }
  }

  private beginValue(c: number): Scan {
    if (isSpace(c)) return Scan.SkipSpace;
    switch (c) {
      case 0x7b: this.state = St.BeginStringOrEmpty; return this.push(c, Parse.ObjectKey, Scan.BeginObject);
      case 0x5b: this.state = St.BeginValueOrEmpty; return this.push(c, Parse.ArrayValue, Scan.BeginArray);
      case 0x22: this.state = St.InString; return Scan.BeginLiteral;
      case 0x2d: this.state = St.Neg; return Scan.BeginLiteral;
      case 0x30: this.state = St.Zero; return Scan.BeginLiteral;
      case 0x74: this.state = St.T; return Scan.BeginLiteral;
      case 0x66: this.state = St.F; return Scan.BeginLiteral;
      case 0x6e: this.state = St.N; return Scan.BeginLiteral;
    }
    if (c >= 0x31 && c <= 0x39) {
      this.state = St.One;
      return Scan.BeginLiteral;
    }
    return this.error(c, 'looking for beginning of value');
  }

  private beginString(c: number): Scan {
    if (isSpace(c)) return Scan.SkipSpace;
    if (c === 0x22) {
      this.state = St.InString;
      return Scan.BeginLiteral;
    }
    return this.error(c, 'looking for beginning of object key string');
  }

  private zero(c: number): Scan {
    if (c === 0x2e) { this.state = St.Dot; return Scan.Continue; }
    if (c === 0x65 || c === 0x45) { this.state = St.E; return Scan.Continue; }
    return this.endValue(c);
  }

  private eSign(c: number): Scan {
    if (isDigit(c)) { this.state = St.E0; return Scan.Continue; }
    return this.error(c, 'in exponent of numeric literal');
  }

  private endValue(c: number): Scan {
    const n = this.parseState.length;
    if (n === 0) {
      this.state = St.EndTop;
      this.endTop = true;
      return this.endTop_(c);
    }
    if (isSpace(c)) {
      this.state = St.EndValue;
      return Scan.SkipSpace;
    }
    switch (this.parseState[n - 1]!) {
      case Parse.ObjectKey:
        if (c === 0x3a) {
          this.parseState[n - 1] = Parse.ObjectValue;
          this.state = St.BeginValue;
          return Scan.ObjectKey;
        }
        return this.error(c, 'after object key');
      case Parse.ObjectValue:
        if (c === 0x2c) {
          this.parseState[n - 1] = Parse.ObjectKey;
          this.state = St.BeginString;
          return Scan.ObjectValue;
        }
        if (c === 0x7d) {
          this.pop();
          return Scan.EndObject;
        }
        return this.error(c, 'after object key:value pair');
      case Parse.ArrayValue:
        if (c === 0x2c) {
          this.state = St.BeginValue;
          return Scan.ArrayValue;
        }
        if (c === 0x5d) {
          this.pop();
          return Scan.EndArray;
        }
        return this.error(c, 'after array element');
    }
  }

  private endTop_(c: number): Scan {
    // Go records the error but still reports the end of the value.
    if (!isSpace(c)) this.error(c, 'after top-level value');
    return Scan.End;
  }
}

/** json.Unmarshal's first pass: the syntax error text, or undefined for valid JSON. */
export function checkValid(data: Uint8Array): string | undefined {
  const s = new GoScanner();
  for (let i = 0; i < data.length; i++) {
    i = s.skipStringRun(data, i, data.length);
    if (i === data.length) break;
    if (s.step(data[i]!) === Scan.Error) return s.err;
  }
  return s.eof() === Scan.Error ? s.err : undefined;
}

/** What {@link GoJsonDecoder.next} found. */
export type DecodeResult =
  | { kind: 'value'; value: Buffer }
  /** `tooLarge`: the value outgrew the decoder's bound (not a syntax error). */
  | { kind: 'error'; message: string; tooLarge?: true }
  /** The input ended with nothing but whitespace: Go's io.EOF. */
  | { kind: 'eof' }
  /** More input is needed to finish the value. */
  | { kind: 'more' };

/**
 * json.Decoder over a body that arrives in chunks: successive JSON values, each returned with
 * surrounding whitespace trimmed. A value longer than `maxValueBytes` is an error (Go has no
 * such limit; the gRPC message limit stops it later there).
 */
export class GoJsonDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Bytes of buf already scanned for the value in progress. */
  private scanned = 0;
  private readonly scanner = new GoScanner();
  private ended = false;
  private failed: DecodeResult | undefined;

  constructor(private readonly maxValueBytes: number) {}

  /** Bytes buffered and not yet returned. */
  get buffered(): number {
    return this.buf.length;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  end(): void {
    this.ended = true;
  }

  next(): DecodeResult {
    if (this.failed !== undefined) return this.failed;
    const s = this.scanner;
    if (this.scanned === 0) s.reset();
    let i = this.scanned;
    for (; i < this.buf.length; i++) {
      i = s.skipStringRun(this.buf, i, Math.min(this.buf.length, this.maxValueBytes));
      if (i === this.buf.length) break;
      if (i >= this.maxValueBytes) return this.tooLarge();
      const r = s.step(this.buf[i]!);
      if (r === Scan.End) return this.take(i);
      if (r === Scan.EndObject || r === Scan.EndArray) {
        // Go invents a space rather than wait for the byte after a closing bracket.
        if (s.endTop) return this.take(i + 1);
      } else if (r === Scan.Error) {
        return this.fail(s.err!);
      }
      if (i + 1 > this.maxValueBytes) return this.tooLarge();
    }
    this.scanned = i;
    if (!this.ended) return { kind: 'more' };
    if (s.step(0x20) === Scan.End) return this.take(i);
    for (let j = 0; j < this.buf.length; j++) if (!isSpace(this.buf[j]!)) return this.fail('unexpected EOF');
    return { kind: 'eof' };
  }

  private take(end: number): DecodeResult {
    let start = 0;
    while (start < end && isSpace(this.buf[start]!)) start++;
    const value = this.buf.subarray(start, end);
    this.buf = this.buf.subarray(end);
    this.scanned = 0;
    return { kind: 'value', value };
  }

  private fail(message: string, tooLarge = false): DecodeResult {
    this.failed = tooLarge ? { kind: 'error', message, tooLarge } : { kind: 'error', message };
    this.buf = Buffer.alloc(0);
    return this.failed;
  }

  private tooLarge(): DecodeResult {
    return this.fail(`raftkv: a JSON value in the request body is larger than ${this.maxValueBytes} bytes`, true);
  }
}

/** The kind of a valid JSON value, as Go's UnmarshalTypeError names it. */
export type LiteralKind = 'object' | 'array' | 'string' | 'number' | 'bool' | 'null';

export function literalKind(raw: Uint8Array): LiteralKind {
  let i = 0;
  while (i < raw.length && isSpace(raw[i]!)) i++;
  switch (raw[i]) {
    case 0x7b: return 'object';
    case 0x5b: return 'array';
    case 0x22: return 'string';
    case 0x74: case 0x66: return 'bool';
    case 0x6e: return 'null';
    default: return 'number';
  }
}

/** The end (exclusive) of the valid JSON value starting at `i` (no leading space). */
function skipValue(raw: Uint8Array, i: number): number {
  let depth = 0;
  do {
    const c = raw[i]!;
    if (c === 0x22) {
      i++;
      while (raw[i] !== 0x22) i += raw[i] === 0x5c ? 2 : 1;
      i++;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      i++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      i++;
    } else if (c === 0x2c || c === 0x3a || isSpace(c)) {
      i++;
    } else {
      // A number or literal: up to the next delimiter.
      while (i < raw.length && !isSpace(raw[i]!) && raw[i] !== 0x2c && raw[i] !== 0x7d && raw[i] !== 0x5d) i++;
    }
  } while (depth > 0 && i < raw.length);
  return i;
}

const skipSpace = (raw: Uint8Array, i: number): number => {
  while (i < raw.length && isSpace(raw[i]!)) i++;
  return i;
};

/** A valid JSON object's members, as Go decodes into map[string]json.RawMessage (a repeated key: the last wins). */
export function objectMembers(raw: Uint8Array): Map<string, Buffer> {
  const members = new Map<string, Buffer>();
  let i = skipSpace(raw, 0) + 1;
  for (;;) {
    i = skipSpace(raw, i);
    if (raw[i] === 0x7d) return members;
    if (raw[i] === 0x2c) i = skipSpace(raw, i + 1);
    const keyEnd = skipValue(raw, i);
    const key = unquote(raw.subarray(i, keyEnd)).toString('utf8');
    i = skipSpace(raw, keyEnd) + 1; // the ':'
    i = skipSpace(raw, i);
    const end = skipValue(raw, i);
    members.set(key, Buffer.from(raw.buffer, raw.byteOffset + i, end - i));
    i = end;
  }
}

/** A valid JSON array's elements. */
export function arrayElements(raw: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  let i = skipSpace(raw, 0) + 1;
  for (;;) {
    i = skipSpace(raw, i);
    if (raw[i] === 0x5d) return out;
    if (raw[i] === 0x2c) i = skipSpace(raw, i + 1);
    const end = skipValue(raw, i);
    out.push(Buffer.from(raw.buffer, raw.byteOffset + i, end - i));
    i = end;
  }
}

const REPLACEMENT = [0xef, 0xbf, 0xbd];

/** Length of the valid UTF-8 sequence at `i`, or 0 (Go's utf8.DecodeRune: RuneError, width 1). */
function utf8Width(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** Go's unquote of a valid JSON string literal: UTF-8 bytes, invalid UTF-8 and lone surrogates as U+FFFD. */
export function unquote(lit: Uint8Array): Buffer {
  let plain = true;
  for (let i = 1; i < lit.length - 1; i++) {
    const c = lit[i]!;
    if (c === 0x5c || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return Buffer.from(lit.subarray(1, lit.length - 1));
  const out: number[] = [];
  const pushRune = (r: number): void => {
    const s = Buffer.from(String.fromCodePoint(r), 'utf8');
    for (const b of s) out.push(b);
  };
  const hex4 = (i: number): number => parseInt(String.fromCharCode(lit[i]!, lit[i + 1]!, lit[i + 2]!, lit[i + 3]!), 16);
  let i = 1;
  const end = lit.length - 1;
  while (i < end) {
    const c = lit[i]!;
    if (c === 0x5c) {
      const e = lit[i + 1]!;
      i += 2;
      switch (e) {
        case 0x62: out.push(0x08); break;
        case 0x66: out.push(0x0c); break;
        case 0x6e: out.push(0x0a); break;
        case 0x72: out.push(0x0d); break;
        case 0x74: out.push(0x09); break;
        case 0x75: {
          let r = hex4(i);
          i += 4;
          if (r >= 0xd800 && r < 0xe000) {
            // A surrogate pair, if the next escape completes one; else U+FFFD.
            if (r < 0xdc00 && lit[i] === 0x5c && lit[i + 1] === 0x75) {
              const r2 = hex4(i + 2);
              if (r2 >= 0xdc00 && r2 < 0xe000) {
                r = 0x10000 + ((r - 0xd800) << 10) + (r2 - 0xdc00);
                i += 6;
                pushRune(r);
                break;
              }
            }
            r = 0xfffd;
          }
          pushRune(r);
          break;
        }
        default: out.push(e); // \\ \/ \"
      }
      continue;
    }
    const w = utf8Width(lit, i);
    if (w === 0) {
      out.push(...REPLACEMENT);
      i++;
    } else {
      for (let k = 0; k < w; k++) out.push(lit[i + k]!);
      i += w;
    }
  }
  return Buffer.from(out);
}

const HEX = '0123456789abcdef';

/**
 * Go's json.Marshal of a string (bytes taken as UTF-8): HTML-safe (<, >, & escaped), invalid
 * UTF-8 as \ufffd, U+2028 and U+2029 escaped, control characters as \n \r \t or \u00XX.
 */
export function goJsonString(bytes: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const c = bytes[i]!;
    if (c < 0x80) {
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c && c !== 0x3c && c !== 0x3e && c !== 0x26) out += String.fromCharCode(c);
      else if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else if (c === 0x0a) out += '\\n';
      else if (c === 0x0d) out += '\\r';
      else if (c === 0x09) out += '\\t';
      else out += `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
      i++;
      continue;
    }
    const w = utf8Width(bytes, i);
    if (w === 0) {
      out += '\\ufffd';
      i++;
      continue;
    }
    const s = Buffer.from(bytes.subarray(i, i + w)).toString('utf8');
    out += s === '\u2028' ? '\\u2028' : s === '\u2029' ? '\\u2029' : s;
    i += w;
  }
  return `${out}"`;
}

/** Go's strconv.IsPrint, close enough: letters, marks, numbers, punctuation, symbols and ASCII space. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

function quoteRune(r: number, quote: string): string {
  const ch = String.fromCodePoint(r);
  if (ch === quote || ch === '\\') return `\\${ch}`;
  if (PRINTABLE.test(ch)) return ch;
  switch (r) {
    case 0x07: return '\\a';
    case 0x08: return '\\b';
    case 0x0c: return '\\f';
    case 0x0a: return '\\n';
    case 0x0d: return '\\r';
    case 0x09: return '\\t';
    case 0x0b: return '\\v';
  }
  if (r < 0x20 || r === 0x7f) return `\\x${HEX[r >> 4]}${HEX[r & 15]}`;
  if (r < 0x10000) return `\\u${r.toString(16).padStart(4, '0')}`;
  return `\\U${r.toString(16).padStart(8, '0')}`;
}

/** Go's quoteChar in its scanner errors: the byte as a rune, in single quotes. */
export function quoteChar(c: number): string {
  if (c === 0x27) return "'\\''";
  if (c === 0x22) return '\'"\'';
  return `'${quoteRune(c, '"')}'`;
}

/** Go's %q of a byte slice (strconv.Quote): invalid UTF-8 as \xHH. */
export function goQuote(bytes: Uint8Array): string {
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const w = utf8Width(bytes, i);
    if (w === 0) {
      out += `\\x${HEX[bytes[i]! >> 4]}${HEX[bytes[i]! & 15]}`;
      i++;
      continue;
    }
    out += quoteRune(Buffer.from(bytes.subarray(i, i + w)).toString('utf8').codePointAt(0)!, '"');
    i += w;
  }
  return `${out}"`;
}
