import { defineConfig } from 'vitest/config';
import { fromSources, testDefaults } from '../../vitest.shared.ts';

export default defineConfig({
  ...fromSources,
  test: {
    ...testDefaults,
    // Two files at a time, on purpose: some suites spawn real etcd (a 3-member cluster for the
    // partition test) and fake servers; see apps/server/vitest.config.ts.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
