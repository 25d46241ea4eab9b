import { defineConfig } from 'vitest/config';

// Tests import sibling packages from their sources (the "raftkv-source" export condition),
// so a package's tests need no build of the packages it depends on.
const conditions = ['raftkv-source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // A promise rejection nobody handles fails the run, even where a handler is installed.
    execArgv: ['--unhandled-rejections=strict'],
    // Files run in parallel (vitest's default, one per core), on purpose: only
    // etcd-differential.test.ts spawns a server (one etcd per seed, one at a time) and
    // persistence.test.ts one short-lived child; the rest run in-process.
    fileParallelism: true,
  },
});
