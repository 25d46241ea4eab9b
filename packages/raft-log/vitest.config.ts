import { defineConfig } from 'vitest/config';
import { fromSources, testDefaults } from '../../vitest.shared.ts';

export default defineConfig({
  ...fromSources,
  test: testDefaults,
});
