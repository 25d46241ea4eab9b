// Post-processes ts-proto's generated code: a bytes field is read by readBytes (src/bytes-field.ts)
// instead of `Buffer.from(reader.bytes())`, so decodeViewing can decode it as a view of the input.
// The apply loop decodes every log entry it applies (a 100-put txn: 200 key and value copies and
// their 200 subarrays, ~75 KB of garbage per txn, all copied again into the encoded KeyValue).
// Idempotent; run after strict-decode.mjs (the generate script does).
import { readFileSync, writeFileSync } from 'node:fs';
import { generatedFiles } from './generated-files.mjs';

const IMPORT = 'import { readBytes } from "../../bytes-field.js";\n';
const AFTER = 'import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";\n';

let total = 0;
for (const file of generatedFiles()) {
  let text = readFileSync(file, 'utf8');
  text = text.replace(/Buffer\.from\(reader\.bytes\(\)\)/g, () => {
    total++;
    return 'readBytes(reader)';
  });
  if (text.includes('readBytes(reader)') && !text.includes(IMPORT)) text = text.replace(AFTER, AFTER + IMPORT);
  writeFileSync(file, text);
}
console.log(`bytes-views: ${total} bytes fields read by readBytes`);
