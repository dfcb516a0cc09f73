// inseq-train: next-token training of a llama-family model, a development tool outside the addon (built by
// `npm run build:train`, run by scripts/train-default-model.mjs to build models/default/).
//
//   inseq-train --config config.json --sequences ids.txt --out model.safetensors [--steps N ...] (see --help)
//
// stdout: one JSON object {"numParameters": N, "losses": [per step]} once the weights are written.
// stderr: progress lines, and on failure one line "inseq-train: <CODE>: <message>".
// Exit status: 0 done, 2 bad command line, 130 interrupted (SIGINT/SIGTERM), 1 any other failure.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "models/config.h"
#include "models/safetensors.h"
#include "train/args.h"
#include "train/sequences.h"
#include "train/trainer.h"

namespace {

std::atomic<bool> g_cancel{false};  // set by SIGINT/SIGTERM, read by the trainer between steps

extern "C" void on_signal(int) { g_cancel.store(true); }

int run(const inseq::train::TrainJob& job) {
  using namespace inseq;
  train::TrainOptions opts = job.options;
  const std::string config_text = core::read_text_file(job.config_path);
  core::Json config;
  try {
    config = core::Json::parse(config_text);
  } catch (const std::runtime_error& e) {
    throw core::Error(core::ErrorCode::kBadCheckpoint, job.config_path + " is not valid JSON: " + e.what());
  }
  opts.config = models::parse_model_config(config, job.config_path);
  opts.sequences = train::read_sequences(job.sequences_path);
  opts.cancel = &g_cancel;
  if (job.threads > 0) core::set_num_threads(job.threads);
  const auto t0 = std::chrono::steady_clock::now();
  if (job.log_every > 0) {
    opts.on_step = [&job, t0](int64_t step, int64_t total, double loss) {
      if (step % job.log_every != 0 && step != total) return;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "step %lld/%lld loss %.4f (%.0f s)\n", static_cast<long long>(step), static_cast<long long>(total), loss, s);
    };
  }
  train::TrainResult r = train::train_causal_lm(opts);
  models::save_safetensors(job.output_path, r.parameters, {{"format", "pt"}});
  std::string out = "{\"numParameters\": " + std::to_string(r.num_parameters) + ", \"losses\": [";
  char buf[32];
  for (size_t i = 0; i < r.losses.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.17g", i ? ", " : "", r.losses[i]);  // round-trips the double
    out += buf;
  }
  out += "]}\n";
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace inseq;
  train::TrainJob job;
  try {
    job = train::parse_args(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const core::Error& e) {
    std::fprintf(stderr, "inseq-train: %s: %s\n\n%s", e.code_name(), e.what(), train::usage().c_str());
    return 2;
  }
  if (job.help) {
    std::fputs(train::usage().c_str(), stdout);
    return 0;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    return run(job);
  } catch (...) {
    const core::Failure f = core::classify_current_exception();
    std::fprintf(stderr, "inseq-train: %s: %s\n", f.code.c_str(), f.message.c_str());
    return f.code == "ERR_ABORTED" ? 130 : 1;
  }
}
