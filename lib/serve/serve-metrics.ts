/** The metrics `inseq serve` exposes on /metrics (names in docs/serve.md). */
import { Counter, DURATION_BUCKETS, Gauge, Histogram, MetricsRegistry } from "./metrics.js";
import type { ModelPool } from "./model-pool.js";
import type { ResultsStore } from "./results-store.js";

export interface ServeMetrics {
  registry: MetricsRegistry;
  requestDuration: Histogram;
  jobs: Counter;
  tokensAttributed: Counter;
}

export function createServeMetrics(pool: ModelPool, store: ResultsStore, deviceMemory: () => Array<{ device: string; bytes: number }>): ServeMetrics {
  const registry = new MetricsRegistry();
  const requestDuration = registry.add(new Histogram("inseq_request_duration_seconds", "Time from request to response, by route and status", DURATION_BUCKETS));
  const jobs = registry.add(new Counter("inseq_jobs_total", "Finished model jobs by model, route and outcome (ok, error, aborted, timeout, rejected)"));
  const tokensAttributed = registry.add(new Counter("inseq_tokens_attributed_total", "Generated tokens attributed (attributed steps of every sequence)"));
  registry.add(new Gauge("inseq_queue_depth", "Jobs waiting in a model's queue", () => pool.entries().map((e) => ({ labels: { model: e.ref.id }, value: e.queue.depth }))));
  registry.add(new Gauge("inseq_jobs_running", "Jobs running for a model", () => pool.entries().map((e) => ({ labels: { model: e.ref.id }, value: e.queue.running }))));
  registry.add(new Gauge("inseq_models_loaded", "Models loaded", () => [{ value: pool.entries().filter((e) => e.model).length }]));
  registry.add(new Gauge("inseq_results_stored", "Results kept for download", () => [{ value: store.size }]));
  registry.add(new Gauge("inseq_results_bytes", "Bytes of the results kept for download", () => [{ value: store.bytes }]));
  registry.add(new Gauge("inseq_device_memory_bytes", "Memory in use per device (cpu: the process's resident set; cuda:N: LibTorch's peak allocation)",
    () => deviceMemory().map((d) => ({ labels: { device: d.device }, value: d.bytes }))));
  registry.add(new Gauge("process_resident_memory_bytes", "Resident memory of the server process", () => [{ value: process.memoryUsage.rss() }]));
  registry.add(new Gauge("process_heap_bytes", "V8 heap in use", () => [{ value: process.memoryUsage().heapUsed }]));
  return { registry, requestDuration, jobs, tokensAttributed };
}
