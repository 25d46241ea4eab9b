import { ConfigError, parseConfig } from './config/index.js';
import { createLogger } from './logger.js';
import { StartupTimeline } from './member/startup-timeline.js';
import { startServer, type RunningServer } from './server.js';

/**
 * The `raftkv` command: etcd's flags in, a serving member out. True once the member serves; false
 * when argv asked for something else (a snapshot command, --version, --help).
 */
export async function main(argv: string[]): Promise<boolean> {
  // Every static import is loaded by now: the first phase of the start-up timeline.
  const modulesLoadedMs = performance.now();
  // `raftkv snapshot ...` works on snapshot files (etcdutl's role); every other argv is etcd's flags.
  if (argv[0] === 'snapshot') {
    // Not in the bundle (scripts/bundle.mjs): a member's start-up does not load the snapshot tools.
    const { snapshotCommand } = await import('./snapshot/cli.js');
    process.exitCode = await snapshotCommand(argv.slice(1));
    return false;
  }
  let parsed;
  try {
    parsed = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`raftkv: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    throw err;
  }
  if (parsed.kind !== 'run') {
    process.stdout.write(parsed.text.endsWith('\n') ? parsed.text : parsed.text + '\n');
    return false;
  }
  const log = createLogger(parsed.config.logLevel, parsed.config.logOutputs, parsed.config.logger === 'capnslog' ? 'text' : 'json');
  // A rejection nobody handles is a bug whose state we cannot trust: log it and stop (as
  // Node's default does, but in the log format operators read).
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled promise rejection, stopping', { error: reason instanceof Error ? reason.stack : String(reason) });
    process.exit(1);
  });
  for (const warning of parsed.warnings) log.warn(warning);
  const timeline = new StartupTimeline(log);
  timeline.mark('modules loaded', undefined, modulesLoadedMs);
  let stopping = false;
  let running: RunningServer | undefined;
  let server: RunningServer;
  try {
    server = await startServer(parsed.config, log, {
      timeline,
      // As etcd, a member removed from the cluster stops (its data dir must not be reused).
      onRemoved: () => {
        if (stopping) return;
        stopping = true;
        log.warn('this member was removed from the cluster: exiting');
        if (!running) process.exit(0);
        // close() gives up at its deadline (the WAL holds everything acknowledged).
        running.close().then(() => process.exit(0), (err: unknown) => {
          log.error('shutdown failed', { error: String(err) });
          process.exit(1);
        });
      },
    });
  } catch (err) {
    log.error('cannot start', { error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  running = server;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('received signal, shutting down', { signal });
    server.close().then(() => process.exit(0), (err: unknown) => {
      log.error('shutdown failed', { error: String(err) });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return true;
}
