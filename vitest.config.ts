import { defineConfig } from "vitest/config";

// Two forks on two cores: one intra-op thread each, or LibTorch's OpenMP pools oversubscribe the cores
// (10-37x slower). Forks inherit this environment before the addon loads.
process.env.OMP_NUM_THREADS ??= "1";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The native addon runs one torch job at a time per process; two forks keep both cores busy.
    maxWorkers: 2,
  },
});
