import { defineConfig } from "vitest/config";

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
