import { defineConfig } from 'vitest/config';

// Tests import sibling packages from their sources (the "raftkv-source" export condition).
const conditions = ['raftkv-source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // A promise rejection nobody handles fails the run, even where a handler is installed.
    execArgv: ['--unhandled-rejections=strict'],
    // Two files at a time, on purpose: some suites spawn real etcd (a 3-member cluster for the
    // partition test) and fake servers; see apps/server/vitest.config.ts.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
