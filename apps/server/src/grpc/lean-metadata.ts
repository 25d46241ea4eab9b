import http2 from 'node:http2';
import { Metadata } from '@grpc/grpc-js';

/** Headers a handler never sees (grpc-js's server removes them from a call's metadata). */
const NOT_PROPAGATED = new Set(['grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding', 'te', 'content-type']);
// grpc-js's metadata.ts: a value outside this is dropped from the metadata (and logged).
const LEGAL_VALUE = /^[ -~]*$/;

/**
 * A call's metadata as grpc-js's `Metadata.fromHttp2Headers` builds it, less the headers grpc-js
 * removes before the handler. Those are skipped instead of added and removed again: a grpc-js
 * client sends 6 headers besides the pseudo-headers, 5 of them dropped, so this spares most of
 * the ~2 KB of heap per call the metadata cost (docs/profiles.md, fifth wave). A header that does
 * not add cleanly (illegal key or value, grpc-js logs it) makes the whole thing grpc-js's own call.
 */
export function callMetadata(headers: http2.IncomingHttpHeaders): Metadata {
  const md = new Metadata();
  try {
    for (const key of Object.keys(headers)) {
      if (key.charCodeAt(0) === 58 /* ':' */ || NOT_PROPAGATED.has(key)) continue;
      const values = headers[key];
      if (values === undefined) continue;
      if (key.endsWith('-bin')) {
        // As grpc-js: a custom binary header may hold several base64 values joined by commas.
        const list = Array.isArray(values) ? values : key.startsWith('grpc-') ? [values] : values.split(',').map((v) => v.trim());
        for (const v of list) md.add(key, Buffer.from(v, 'base64'));
      } else if (Array.isArray(values)) {
        for (const v of values) md.add(key, v);
      } else {
        md.add(key, values);
      }
    }
  } catch {
    const full = Metadata.fromHttp2Headers(headers);
    for (const key of NOT_PROPAGATED) full.remove(key);
    return full;
  }
  return md;
}

/** The first value of a header grpc-js reads from the metadata, as it would find it there. */
export function headerValue(headers: http2.IncomingHttpHeaders, key: string): string | undefined {
  const raw = headers[key];
  const v = Array.isArray(raw) ? raw[0] : raw;
  return v !== undefined && LEGAL_VALUE.test(v) ? v : undefined;
}
