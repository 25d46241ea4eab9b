import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 30_000,
    // A promise rejection nobody handles fails the run, even where a handler is installed.
    execArgv: ['--unhandled-rejections=strict'],
    // Files run in parallel (vitest's default, one per core), on purpose: only
    // etcd-differential.test.ts spawns a server (one etcd); the rest run in-process.
    fileParallelism: true,
  },
});
