import { defineConfig } from 'vitest/config';
import { testDefaults } from '../../vitest.shared.ts';

export default defineConfig({
  test: {
    ...testDefaults,
    // Files run in parallel (vitest's default, one per core), on purpose: only
    // etcd-differential.test.ts spawns a server (one etcd); the rest run in-process.
    fileParallelism: true,
  },
});
