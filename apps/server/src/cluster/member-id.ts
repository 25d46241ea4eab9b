import { createHash } from 'node:crypto';

/**
 * Formats a URL as Go's url.URL.String() does for the URLs etcd accepts (no trailing "/" for
 * an empty path). Member and cluster IDs hash these strings, so they must match byte for byte.
 */
export function formatUrl(url: URL): string {
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.protocol}//${url.host}${path}`;
}

function firstUint64(bytes: Uint8Array): bigint {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigUInt64BE(0);
}

/**
 * A member's ID as etcd derives it: the first 8 bytes (big-endian) of SHA-1 over the sorted peer
 * URLs, the cluster token and, for members added at run time, the Unix time in seconds. Stable IDs
 * let a restarted member and every peer agree on who is who without talking first.
 */
export function computeMemberId(peerUrls: readonly URL[], clusterToken: string, addedAtUnixSeconds?: number): bigint {
  const sorted = peerUrls.map(formatUrl).sort();
  let text = sorted.join('') + clusterToken;
  if (addedAtUnixSeconds !== undefined) text += String(addedAtUnixSeconds);
  return firstUint64(createHash('sha1').update(text).digest());
}

/** The cluster ID as etcd derives it: SHA-1 over the sorted member IDs, 8 bytes each, big-endian. */
export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const bytes = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => bytes.writeBigUInt64BE(id, 8 * i));
  return firstUint64(createHash('sha1').update(bytes).digest());
}
