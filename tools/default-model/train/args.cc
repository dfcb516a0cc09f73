#include "train/args.h"

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <optional>

#include "core/error.h"

namespace inseq::train {

using core::Error;
using core::ErrorCode;

namespace {

[[noreturn]] void invalid(const std::string& flag, const std::string& expected, const std::string& value) {
  throw Error(ErrorCode::kInvalidOption, "Expected " + expected + " for " + flag + " but received \"" + value + "\"");
}

int64_t to_int(const std::string& flag, const std::string& value, int64_t min) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || v < min) {
    invalid(flag, min == 0 ? "a non-negative integer" : "an integer >= " + std::to_string(min), value);
  }
  return v;
}

double to_number(const std::string& flag, const std::string& value) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || errno != 0 || !(v >= 0)) invalid(flag, "a non-negative number", value);
  return v;
}

struct Flag {
  const char* name;
  const char* help;
  std::function<void(TrainJob&, const std::string& flag, const std::string& value)> set;
};

// Defaults are TrainJob's and TrainOptions' member initialisers (--min-learning-rate: a tenth of the rate).
const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"--config", "config.json of the model to train (llama family)", [](TrainJob& j, auto&, auto& v) { j.config_path = v; }},
      {"--sequences", "training sequences: one per line, token ids separated by spaces", [](TrainJob& j, auto&, auto& v) { j.sequences_path = v; }},
      {"--out", "where to write the trained weights (safetensors)", [](TrainJob& j, auto&, auto& v) { j.output_path = v; }},
      {"--steps", "optimizer steps (1000)", [](TrainJob& j, auto& f, auto& v) { j.options.steps = to_int(f, v, 1); }},
      {"--batch-size", "sequences per step, drawn with replacement (32)", [](TrainJob& j, auto& f, auto& v) { j.options.batch_size = to_int(f, v, 1); }},
      {"--learning-rate", "peak AdamW learning rate (3e-3)", [](TrainJob& j, auto& f, auto& v) { j.options.learning_rate = to_number(f, v); }},
      {"--min-learning-rate", "floor of the cosine decay (a tenth of --learning-rate)", [](TrainJob& j, auto& f, auto& v) { j.options.min_learning_rate = to_number(f, v); }},
      {"--warmup-steps", "linear warmup steps (50)", [](TrainJob& j, auto& f, auto& v) { j.options.warmup_steps = to_int(f, v, 0); }},
      {"--weight-decay", "AdamW weight decay of matrices (0.01)", [](TrainJob& j, auto& f, auto& v) { j.options.weight_decay = to_number(f, v); }},
      {"--grad-clip", "global gradient norm clip, 0 for none (1.0)", [](TrainJob& j, auto& f, auto& v) { j.options.grad_clip = to_number(f, v); }},
      {"--seed", "seed of the initial weights and the batch draws (0)", [](TrainJob& j, auto& f, auto& v) { j.options.seed = static_cast<uint64_t>(to_int(f, v, 0)); }},
      {"--pad-token-id", "id that pads batch rows (0)", [](TrainJob& j, auto& f, auto& v) { j.options.pad_token_id = to_int(f, v, 0); }},
      {"--threads", "intra-op threads (LibTorch's default)", [](TrainJob& j, auto& f, auto& v) { j.threads = static_cast<int>(to_int(f, v, 1)); }},
      {"--log-every", "a progress line on stderr every N steps, 0 for none (100)", [](TrainJob& j, auto& f, auto& v) { j.log_every = to_int(f, v, 0); }},
  };
  return table;
}

}  // namespace

std::string usage() {
  std::string out =
      "Usage: inseq-train --config config.json --sequences ids.txt --out model.safetensors [options]\n"
      "Trains a llama-family model on next-token prediction (LibTorch AdamW, CPU) and prints\n"
      "{\"numParameters\": N, \"losses\": [...]} on stdout.\n\n";
  for (const Flag& f : flags()) {
    std::string name = f.name;
    out += "  " + name + std::string(name.size() < 22 ? 22 - name.size() : 1, ' ') + f.help + "\n";
  }
  out += "  --help                this text\n";
  return out;
}

TrainJob parse_args(const std::vector<std::string>& args) {
  TrainJob job;
  std::optional<double> min_lr;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      job.help = true;
      return job;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags()) {
      if (arg == f.name) flag = &f;
    }
    if (!flag) throw Error(ErrorCode::kInvalidOption, "Unknown option \"" + arg + "\" (see --help)");
    if (i + 1 >= args.size()) throw Error(ErrorCode::kInvalidOption, "Expected a value for " + arg);
    const std::string& value = args[++i];
    flag->set(job, arg, value);
    if (arg == "--min-learning-rate") min_lr = job.options.min_learning_rate;
  }
  for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"--config", &job.config_path},
                                    {"--sequences", &job.sequences_path},
                                    {"--out", &job.output_path}}) {
    if (value->empty()) throw Error(ErrorCode::kInvalidOption, std::string("Expected a file path for ") + name);
  }
  job.options.min_learning_rate = min_lr.value_or(job.options.learning_rate / 10);
  return job;
}

}  // namespace inseq::train
