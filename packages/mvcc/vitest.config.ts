import { defineConfig } from 'vitest/config';
import { fromSources, testDefaults } from '../../vitest.shared.ts';

export default defineConfig({
  ...fromSources,
  test: {
    ...testDefaults,
    // Files run in parallel (vitest's default, one per core), on purpose: only
    // etcd-differential.test.ts spawns a server (one etcd per seed, one at a time) and
    // persistence.test.ts one short-lived child; the rest run in-process.
    fileParallelism: true,
  },
});
