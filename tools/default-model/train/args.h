// The command line of inseq-train: one flag table (args.cc) parsed into the trainer's options plus the files
// the run reads and writes.
#pragma once

#include <string>
#include <vector>

#include "train/trainer.h"

namespace inseq::train {

struct TrainJob {
  std::string config_path;     // --config: a Hugging Face config.json (llama family)
  std::string sequences_path;  // --sequences: one training sequence per line, token ids separated by spaces
  std::string output_path;     // --out: the trained weights, written as safetensors
  int threads = 0;             // --threads: intra-op threads (0: LibTorch's default)
  int64_t log_every = 100;     // --log-every: a progress line on stderr every N steps (0: none)
  bool help = false;           // --help
  TrainOptions options;        // everything else; config and sequences are filled from the files by main.cc
};

// Parses argv[1..]; throws core::Error(kInvalidOption) with the flag in the message on a bad or missing value.
TrainJob parse_args(const std::vector<std::string>& args);

// The flag table as text, for --help and usage errors.
std::string usage();

}  // namespace inseq::train
