// TorchScript bundles (docs/torchscript.md): a directory with model.torchscript, inseq_bundle.json and the
// tokenizer(s), for architectures without a native implementation. Decoder-only bundles load as a CausalLM,
// encoder-decoder bundles as an EncoderDecoderLM; the contract's methods are checked on load, and methods
// that need internals a bundle does not expose (per-block hooks, hidden states) fail with kUnsupportedModel.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "models/causal_lm.h"
#include "models/encoder_decoder.h"

namespace inseq::models {

constexpr const char* kBundleSidecar = "inseq_bundle.json";
constexpr const char* kBundleModule = "model.torchscript";

bool is_torchscript_bundle(const std::string& dir);   // has the sidecar
std::string bundle_model_kind(const std::string& dir);  // "decoder-only" | "encoder-decoder" (checks the sidecar)

std::shared_ptr<CausalLM> load_torchscript_causal_lm(const std::string& dir, c10::Device device);
std::shared_ptr<EncoderDecoderLM> load_torchscript_encoder_decoder(const std::string& dir, c10::Device device);

}  // namespace inseq::models
