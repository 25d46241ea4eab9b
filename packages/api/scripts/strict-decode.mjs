// Post-processes ts-proto's generated decoders to refuse malformed input as etcd's Go decoder
// (gogo/protobuf) does, instead of acting on part of it:
//   - a known field with the wrong wire type ("proto: wrong wireType"): ts-proto skips it;
//   - tag 0 or an END_GROUP tag ("illegal tag" / "end group for non-group"): ts-proto stops
//     decoding there and returns the fields read so far, as if the message ended;
//   - a tag varint over 32 bits: ts-proto truncates it and reads another field than Go does;
//   - a field that runs past the end of its enclosing message: ts-proto reads on into the parent.
// Unknown fields with a valid wire type are still skipped, as proto3 requires. Idempotent; run
// after `buf generate` (the generate script does).
import { readFileSync, writeFileSync } from 'node:fs';
import { generatedFiles } from './generated-files.mjs';


const RULES = [
  // tags read as Go reads them (src/strict-tag.ts): a tag varint over 32 bits is never one of
  // the message's fields, as ts-proto's truncating read would make it
  [/\n( {8})const \[tagField, tagWire\] = reader\.tag\(\);\n {8}const tag = \(tagField << 3\) \| tagWire;/g, '\n$1const tag = readTag(reader);'],
  [/\n( {8})const tag = reader\.uint32\(\);/g, '\n$1const tag = readTag(reader);'],
  // unknown fields skipped as Go skips them: a varint over 10 bytes is "proto: integer overflow"
  [/\n( {8})reader\.skip\(tag & 7\);/g, '\n$1skipField(reader, tag & 7);'],
  // a field that runs past the end of its enclosing message ("unexpected EOF" in Go)
  [/(?<!unexpected EOF"\);)(\n {6}\}\n)( {6}return message;)/g, '$1      if (reader.pos > end) {\n        throw new globalThis.Error("proto: unexpected EOF");\n      }\n$2'],
  // case N: { if (tag !== T) { break; } ...
  [/(\n {12}if \(tag !== \d+\) \{\n {14})break;/g, '$1throw new globalThis.Error(`proto: wrong wireType = ${tag & 7} for field ${tag >>> 3}`);'],
  // the end of a case that accepts two encodings (packed and unpacked repeated scalars)
  [/(\n {14}continue;\n {12}\}\n\n {12})break;(\n {10}\})/g, '$1throw new globalThis.Error(`proto: wrong wireType = ${tag & 7} for field ${tag >>> 3}`);$2'],
  // after the switch: field number 0 and END_GROUP end nothing in proto3 messages
  [/(\n {8}if \(\(tag & 7\) === 4 \|\| )tag === 0(\) \{\n {10})break;/g, '$1tag >>> 3 === 0$2throw new globalThis.Error(`proto: illegal tag ${tag >>> 3} (wire type ${tag & 7})`);'],
  [/(\n {8}if \(\(tag & 7\) === 4 \|\| )tag === 0(\) \{\n {10}throw)/g, '$1tag >>> 3 === 0$2'],
];

let total = 0;
for (const file of generatedFiles()) {
  let text = readFileSync(file, 'utf8');
  for (const [re, to] of RULES) text = text.replace(re, (...m) => { total++; return to.replace(/\$(\d)/g, (_, i) => m[Number(i)]); });
  text = text.replace(/\nimport \{ readTag(, skipField)? \} from "\.\.\/\.\.\/strict-tag\.js";/, '');
  if (text.includes('readTag(reader)')) {
    text = text.replace('import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";\n',
      'import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";\nimport { readTag, skipField } from "../../strict-tag.js";\n');
  }
  // Every break left inside a decode() loop would mean a shape this script does not know.
  const decodeBodies = text.match(/ {2}decode\(input[\s\S]*?\n {2}\},\n/g) ?? [];
  for (const body of decodeBodies) {
    if (/\n\s+break;/.test(body)) throw new Error(`${file}: a decoder shape strict-decode.mjs does not handle`);
  }
  writeFileSync(file, text);
}
console.log(`strict-decode: ${total} decoder branches made strict`);
