/**
 * Parsers that accept exactly what etcd's Go flag values accept, so a command line
 * that works for `etcd` parses the same way here. Each throws a plain `Error` whose
 * message describes the problem; callers wrap it with the flag name.
 */

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's `strconv.ParseBool`. */
export function parseGoBool(text: string): boolean {
  if (GO_TRUE.has(text)) return true;
  if (GO_FALSE.has(text)) return false;
  throw new Error('parse error');
}

// Go's base-0 integer syntax: 0x/0o/0b prefixes, a bare leading 0 means octal, and
// single underscores may separate digits.
const DIGITS: Record<string, RegExp> = {
  hex: /^_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*$/,
  oct: /^_?[0-7]+(?:_[0-7]+)*$/,
  bin: /^_?[01]+(?:_[01]+)*$/,
  dec: /^[0-9]+(?:_[0-9]+)*$/,
};

function parseGoUnsignedLiteral(text: string): bigint {
  let body = text;
  let radix: 'hex' | 'oct' | 'bin' | 'dec' = 'dec';
  let prefix = '';
  const lower = text.slice(0, 2).toLowerCase();
  if (lower === '0x') [radix, prefix, body] = ['hex', '0x', text.slice(2)];
  else if (lower === '0o') [radix, prefix, body] = ['oct', '0o', text.slice(2)];
  else if (lower === '0b') [radix, prefix, body] = ['bin', '0b', text.slice(2)];
  else if (text.length > 1 && text.startsWith('0')) [radix, prefix, body] = ['oct', '0o', text.slice(1)];
  const pattern = DIGITS[radix];
  if (pattern === undefined || !pattern.test(body)) throw new Error('parse error');
  return BigInt(prefix + body.replaceAll('_', ''));
}

/**
 * Go's `strconv.ParseUint(text, 0, 64)` (what `flag.UintVar`/`Uint64Var` use), then
 * bounded to `[0, max]` so the value fits a JavaScript number.
 */
export function parseGoUint(text: string, max: number = Number.MAX_SAFE_INTEGER): number {
  if (text.startsWith('+') || text.startsWith('-')) throw new Error('parse error');
  const value = parseGoUnsignedLiteral(text);
  if (value > BigInt(max)) throw new Error(`value out of range (at most ${max})`);
  return Number(value);
}

/** Go's `strconv.ParseInt(text, 0, 64)`, bounded to `[min, max]`. */
export function parseGoInt(text: string, min: number = -Number.MAX_SAFE_INTEGER, max: number = Number.MAX_SAFE_INTEGER): number {
  const negative = text.startsWith('-');
  const magnitude = parseGoUnsignedLiteral(negative || text.startsWith('+') ? text.slice(1) : text);
  const value = negative ? -magnitude : magnitude;
  if (value < BigInt(min) || value > BigInt(max)) throw new Error(`value out of range (${min} to ${max})`);
  return Number(value);
}

/** Decimal only, as etcd's `Uint32Value` parses with base 10. */
export function parseDecimalUint32(text: string): number {
  if (!/^[0-9]+$/.test(text)) throw new Error(`strconv.ParseUint: parsing "${text}": invalid syntax`);
  const value = BigInt(text);
  if (value > 0xffff_ffffn) throw new Error(`strconv.ParseUint: parsing "${text}": value out of range`);
  return Number(value);
}

const DURATION_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's `time.ParseDuration` ("300ms", "1.5h", "2h45m", "0"), returned in milliseconds.
 * Negative durations are rejected: no duration option of etcd means anything below zero.
 */
export function parseGoDurationMs(text: string): number {
  if (text === '0') return 0;
  let rest = text;
  if (rest.startsWith('-')) throw new Error('must not be negative');
  if (rest.startsWith('+')) rest = rest.slice(1);
  if (rest === '') throw new Error(`time: invalid duration "${text}"`);
  let total = 0;
  // Each part is a number then a unit; a unit ends where the next number starts.
  const part = /^([0-9]*(?:\.[0-9]*)?)([^0-9.]*)/;
  while (rest !== '') {
    const [, number = '', unitName = ''] = part.exec(rest) ?? [];
    if (number === '' || number === '.') throw new Error(`time: invalid duration "${text}"`);
    const scale = DURATION_UNIT_MS[unitName];
    if (scale === undefined) {
      throw new Error(unitName === '' ? `time: missing unit in duration "${text}"` : `time: unknown unit "${unitName}" in duration "${text}"`);
    }
    total += Number(number) * scale;
    rest = rest.slice(number.length + unitName.length);
  }
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) throw new Error(`time: invalid duration "${text}"`);
  return total;
}

/**
 * Go's time.Duration String for a duration in ms, as etcd's log fields print one: "0s",
 * "800µs", "120.25ms", "1.5s", "1h30m0s".
 */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  const trim = (n: number) => String(Number(n.toFixed(6)));
  if (ms < 0.001) return `${Math.round(ms * 1e6)}ns`;
  if (ms < 1) return `${trim(ms * 1000)}µs`;
  if (ms < 1000) return `${trim(ms)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const sec = `${Number.isInteger(s) ? s : s.toFixed(3).replace(/0+$/, '')}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

/**
 * Go's `net.SplitHostPort` for the part after `scheme://`: `host:port` or `[v6]:port`.
 * Like Go, the port may be empty ("h:") but the colon may not be missing.
 */
export function splitHostPort(hostport: string): { host: string; port: string } {
  const missingPort = new Error('missing port in address');
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0) throw new Error('missing \']\' in address');
    const after = hostport.slice(end + 1);
    if (after === '') throw missingPort;
    if (!after.startsWith(':')) throw new Error('unexpected text after \']\' in address');
    const port = after.slice(1);
    if (port.includes(':')) throw new Error('too many colons in address');
    return { host: hostport.slice(1, end), port };
  }
  const colon = hostport.lastIndexOf(':');
  if (colon < 0) throw missingPort;
  const host = hostport.slice(0, colon);
  if (host.includes(':')) throw new Error('too many colons in address');
  if (host.includes('[') || host.includes(']')) throw new Error('unexpected bracket in address');
  return { host, port: hostport.slice(colon + 1) };
}

/** The URL schemes etcd accepts for every listen, advertise and peer URL. */
export const URL_SCHEMES = ['http', 'https', 'unix', 'unixs'] as const;

/** Upper bound on URLs in one list: a limit on everything, far above any real use. */
export const MAX_URLS_PER_LIST = 64;

/**
 * One etcd URL (`types.NewURLs` rules): scheme http/https/unix/unixs, an authority of
 * the form host:port, and no path. The text is trimmed first, as etcd does.
 */
export function parseEtcdUrl(raw: string): URL {
  const text = raw.trim();
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(text);
  const scheme = match?.[1]?.toLowerCase();
  if (match === null || scheme === undefined || !(URL_SCHEMES as readonly string[]).includes(scheme)) {
    throw new Error(`URL scheme must be http, https, unix, or unixs: ${text}`);
  }
  const authority = match[2] ?? '';
  const tail = match[3] ?? '';
  if (authority.includes('@')) throw new Error(`URL must not contain user information: ${text}`);
  try {
    splitHostPort(authority);
  } catch {
    throw new Error(`URL address does not have the form "host:port": ${text}`);
  }
  if (tail.startsWith('/')) throw new Error(`URL must not contain a path: ${text}`);
  if (tail !== '') throw new Error(`URL must not contain a query or fragment: ${text}`);
  try {
    return new URL(`${scheme}://${authority}`);
  } catch {
    throw new Error(`URL address does not have the form "host:port": ${text}`);
  }
}

/**
 * A comma-separated URL list (etcd's `UniqueURLs`): each URL validated, duplicates
 * dropped, sorted by text as etcd sorts them. The empty string is the empty list.
 */
export function parseEtcdUrlList(text: string): URL[] {
  if (text === '') return [];
  const parts = text.split(',');
  if (parts.length > MAX_URLS_PER_LIST) throw new Error(`too many URLs (at most ${MAX_URLS_PER_LIST})`);
  return uniqueSorted(parts.map(parseEtcdUrl));
}

function uniqueSorted(urls: URL[]): URL[] {
  const unique = new Map<string, URL>();
  for (const url of urls) unique.set(url.href, url);
  return [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, url]) => url);
}

/** One member of `--initial-cluster`. */
export interface InitialClusterMember {
  name: string;
  peerUrls: URL[];
}

/** Upper bound on members in `--initial-cluster`; Raft clusters are 3 to 7 voters. */
export const MAX_INITIAL_CLUSTER_MEMBERS = 64;

/**
 * `name1=url1,name1=url2,name2=url3` (etcd's `types.NewURLsMap`): empty items are
 * skipped, a name may repeat to give a member several URLs, members keep the order in
 * which their names first appear.
 */
export function parseInitialCluster(text: string): InitialClusterMember[] {
  const byName = new Map<string, string[]>();
  for (const item of text.split(',')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const url = eq < 0 ? '' : item.slice(eq + 1);
    const urls = byName.get(name) ?? [];
    urls.push(url);
    byName.set(name, urls);
    if (byName.size > MAX_INITIAL_CLUSTER_MEMBERS) throw new Error(`too many members (at most ${MAX_INITIAL_CLUSTER_MEMBERS})`);
  }
  return [...byName.entries()].map(([name, urls]) => ({ name, peerUrls: uniqueSorted(urls.map(parseEtcdUrl)) }));
}
