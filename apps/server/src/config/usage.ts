/** The texts printed for `--help` and `--version`. */
import { FLAGS, FLAG_NAMES, UNIMPLEMENTED_FLAGS, type FlagSection } from './flags.js';

/** raftkv's own version; the etcd API version it speaks follows. */
export const RAFTKV_VERSION = '0.1.0';
export const ETCD_API_VERSION = '3.4';

export function versionText(): string {
  return [
    `raftkv Version: ${RAFTKV_VERSION}`,
    `etcd API Version: ${ETCD_API_VERSION}`,
    `Node.js Version: ${process.version}`,
    `OS/Arch: ${process.platform}/${process.arch}`,
  ].join('\n');
}

const SECTION_ORDER: readonly FlagSection[] = [
  'Member',
  'Clustering',
  'Security',
  'Auth',
  'Profiling and Monitoring',
  'Logging',
  'Experimental',
  'Unsafe',
  'v2 Proxy (not implemented)',
  'Deprecated',
];

/** Usage generated from the flag table, so it cannot drift from what is parsed. */
export function helpText(): string {
  const lines = [
    'Usage:',
    '  raftkv [flags]            start a member (takes the flags of etcd 3.4)',
    '  raftkv --version          print the version',
    '  raftkv -h | --help        print this help',
    '  raftkv snapshot status|restore ...   etcd-format snapshot files (raftkv snapshot --help)',
    '',
    'Flags are written --flag=value, --flag value or -flag value; booleans as --flag or --flag=false.',
    'Every flag can also be set with an environment variable: --initial-cluster is ETCD_INITIAL_CLUSTER',
    '(or RAFTKV_INITIAL_CLUSTER). A flag and its variable must not both be set.',
    'With --config-file (or ETCD_CONFIG_FILE) all other flags and variables are ignored.',
    'Flags marked * are accepted for compatibility but not implemented yet.',
  ];
  for (const section of SECTION_ORDER) {
    lines.push('', `${section}:`);
    for (const name of FLAG_NAMES) {
      const spec = FLAGS[name];
      if (spec.section !== section) continue;
      const mark = UNIMPLEMENTED_FLAGS[name] === undefined ? '' : ' *';
      const shownDefault = name === 'data-dir' ? '${name}.raftkv' : spec.defaultText;
      lines.push(`  --${name} '${shownDefault}'${mark}`, `      ${spec.help}`);
    }
  }
  return lines.join('\n');
}
