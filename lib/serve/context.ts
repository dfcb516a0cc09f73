/** What the routes of one server share. */
import type { ServeLimits } from "./limits.js";
import type { ModelPool } from "./model-pool.js";
import type { ResultsStore } from "./results-store.js";
import type { ServeMetrics } from "./serve-metrics.js";

export interface ServeContext {
  pool: ModelPool;
  store: ResultsStore;
  limits: ServeLimits;
  metrics: ServeMetrics;
  startedAt: number;
}
