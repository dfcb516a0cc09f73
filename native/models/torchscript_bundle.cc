#include "models/torchscript_bundle.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"

namespace inseq::models {

using core::Error;
using core::ErrorCode;
using core::Json;

namespace {

const std::vector<std::string> kDecoderOnlyMethods = {"embed", "forward_embeds"};
const std::vector<std::string> kEncoderDecoderMethods = {"embed_source", "embed_target", "forward_embeds"};

// The sidecar, validated.
struct Sidecar {
  std::string path, kind, model_type;
  int64_t vocab_size = 0, source_vocab_size = 0, hidden_size = 0, num_layers = 0, num_heads = 0, encoder_layers = 0, encoder_heads = 0;
  int64_t max_positions = 0, bos = -1, pad = -1, unk = -1, decoder_start = -1;
  std::vector<int64_t> eos;
  double embed_scale = 1.0;
  std::set<std::string> methods;
};

int64_t optional_id(const Json& j, const std::string& key) {
  if (!j.has(key) || j[key].is_null()) return -1;
  if (j[key].is_array()) return j[key].size() > 0 ? j[key][0].as_int() : -1;
  return j[key].as_int();
}

Sidecar read_sidecar(const std::string& dir) {
  Sidecar s;
  s.path = core::join_path(dir, kBundleSidecar);
  Json j;
  try {
    j = Json::parse(core::read_text_file(s.path));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadModel, "Malformed " + s.path + ": " + e.what());
  }
  auto bad = [&](const std::string& what) { return Error(ErrorCode::kBadModel, s.path + ": " + what); };
  try {
    if (j.get_string("format", "") != "inseq-torchscript-bundle") throw bad("\"format\" must be \"inseq-torchscript-bundle\"");
    if (j.get_int("format_version", 0) != 1) throw bad("unsupported format_version (this build reads 1)");
    s.kind = j.get_string("model_kind", "");
    if (s.kind != "decoder-only" && s.kind != "encoder-decoder") throw bad("\"model_kind\" must be \"decoder-only\" or \"encoder-decoder\"");
    s.model_type = j.get_string("model_type", "torchscript");
    s.vocab_size = j.get_int("vocab_size", 0);
    s.source_vocab_size = j.has("source_vocab_size") && !j["source_vocab_size"].is_null() ? j["source_vocab_size"].as_int() : s.vocab_size;
    s.hidden_size = j.get_int("hidden_size", 0);
    s.num_layers = j.get_int("num_layers", 0);
    s.num_heads = j.get_int("num_heads", 0);
    s.encoder_layers = j.get_int("encoder_layers", 0);
    s.encoder_heads = j.has("encoder_heads") && !j["encoder_heads"].is_null() ? j["encoder_heads"].as_int() : s.num_heads;
    s.max_positions = j.has("max_positions") && !j["max_positions"].is_null() ? j["max_positions"].as_int() : 0;
    s.embed_scale = j.has("embed_scale") && !j["embed_scale"].is_null() ? j["embed_scale"].as_double() : 1.0;
    s.bos = optional_id(j, "bos_token_id");
    s.pad = optional_id(j, "pad_token_id");
    s.unk = optional_id(j, "unk_token_id");
    s.decoder_start = optional_id(j, "decoder_start_token_id");
    if (j.has("eos_token_id") && j["eos_token_id"].is_array()) {
      for (const auto& e : j["eos_token_id"].as_array()) s.eos.push_back(e.as_int());
    } else if (optional_id(j, "eos_token_id") >= 0) {
      s.eos.push_back(optional_id(j, "eos_token_id"));
    }
    if (j.has("methods") && j["methods"].is_array()) {
      for (const auto& m : j["methods"].as_array()) s.methods.insert(m.as_string());
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw bad(e.what());
  }
  if (s.vocab_size <= 0 || s.source_vocab_size <= 0 || s.hidden_size <= 0 || s.num_layers <= 0 || s.num_heads <= 0) {
    throw bad("vocab_size, hidden_size, num_layers and num_heads must be positive integers");
  }
  auto check_id = [&](const char* name, int64_t id, int64_t vocab) {
    if (id >= vocab) throw bad(std::string(name) + " " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab) + " tokens");
  };
  // Absent ids are null (or missing); a present one must be a token id.
  for (const char* key : {"bos_token_id", "pad_token_id", "unk_token_id", "decoder_start_token_id", "eos_token_id"}) {
    const Json& v = j[key];
    bool negative = v.is_number() && v.as_double() < 0;
    if (v.is_array()) {
      for (const auto& x : v.as_array()) negative = negative || (x.is_number() && x.as_double() < 0);
    }
    if (negative) throw bad(std::string(key) + " must be a token id (>= 0) or null");
  }
  if (j.has("max_positions") && s.max_positions <= 1) {
    throw bad("max_positions must be at least 2 (or null when the module has no limit) but is " + std::to_string(s.max_positions));
  }
  check_id("bos_token_id", s.bos, s.kind == "encoder-decoder" ? s.source_vocab_size : s.vocab_size);
  check_id("pad_token_id", s.pad, s.vocab_size);
  check_id("unk_token_id", s.unk, s.source_vocab_size);
  for (int64_t e : s.eos) check_id("eos_token_id", e, s.vocab_size);
  if (s.kind == "encoder-decoder") {
    if (s.decoder_start < 0) throw bad("encoder-decoder bundles need decoder_start_token_id");
    check_id("decoder_start_token_id", s.decoder_start, s.vocab_size);
    if (s.pad < 0) throw bad("encoder-decoder bundles need pad_token_id (source padding)");
  }
  return s;
}

// Rethrows the exception being handled as `code` with `prefix`, except core errors (kept) and allocation
// failures (always ERR_OUT_OF_MEMORY). TorchScript raises c10::Error, torch::jit::ErrorReport (a
// std::exception) for code that does not compile, and std::runtime_error from the zip reader.
[[noreturn]] void rethrow_bundle_failure(ErrorCode code, const std::string& prefix) {
  core::Failure f = core::classify_current_exception();
  if (f.out_of_memory) throw Error(ErrorCode::kOutOfMemory, f.message);
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (...) {
    throw Error(code, prefix + f.message);
  }
}

// ---- archive checksums -----------------------------------------------------------------------------
// LibTorch's reader does not verify the CRC-32 the zip records for each entry, so a flipped byte in a weight
// record loads silently. The central directory is read here and every stored tensor record checked.

uint32_t crc32_update(uint32_t crc, const unsigned char* p, size_t n) {
  static const auto table = [] {  // slicing-by-4 tables of the reflected polynomial 0xEDB88320
    std::array<std::array<uint32_t, 256>, 4> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int k = 1; k < 4; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    return t;
  }();
  crc = ~crc;
  while (n >= 4) {
    crc ^= static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
    crc = table[3][crc & 0xFF] ^ table[2][(crc >> 8) & 0xFF] ^ table[1][(crc >> 16) & 0xFF] ^ table[0][crc >> 24];
    p += 4;
    n -= 4;
  }
  while (n--) crc = table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Checks the CRC-32 of every stored record whose name passes `wanted` against the central directory, and
// returns the sizes of those records.
std::multiset<uint64_t> checked_record_sizes(const std::string& path, const std::function<bool(const std::string&)>& wanted) {
  std::ifstream in(path, std::ios::binary);
  auto bad = [&](const std::string& what) { return Error(ErrorCode::kBadModel, path + ": " + what + " (truncated or corrupt bundle)"); };
  auto read_at = [&](uint64_t pos, size_t n) {
    std::vector<unsigned char> buf(n);
    in.seekg(static_cast<std::streamoff>(pos));
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
    if (!in) throw bad("cannot read " + std::to_string(n) + " bytes at offset " + std::to_string(pos));
    return buf;
  };
  const uint64_t size = core::file_size(path);
  if (size < 22) throw bad("not a zip archive");
  const uint64_t tail_len = std::min<uint64_t>(size, 65557);
  const auto tail = read_at(size - tail_len, tail_len);
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail_len) - 22; i >= 0; --i) {
    if (le(&tail[i], 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad("no end of central directory");
  uint64_t count = le(&tail[eocd + 10], 2), cd_size = le(&tail[eocd + 12], 4), cd_offset = le(&tail[eocd + 16], 4);
  if ((count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) && eocd >= 20 && le(&tail[eocd - 20], 4) == 0x07064b50) {
    const auto z64 = read_at(le(&tail[eocd - 12], 8), 56);  // ZIP64 end of central directory record
    if (le(&z64[0], 4) != 0x06064b50) throw bad("bad ZIP64 end of central directory");
    count = le(&z64[32], 8);
    cd_size = le(&z64[40], 8);
    cd_offset = le(&z64[48], 8);
  }
  if (cd_offset + cd_size > size) throw bad("central directory beyond the end of the file");
  const auto cd = read_at(cd_offset, cd_size);
  std::multiset<uint64_t> sizes;
  std::vector<unsigned char> buf(1 << 20);
  for (uint64_t i = 0, p = 0; i < count; ++i) {
    if (p + 46 > cd.size() || le(&cd[p], 4) != 0x02014b50) throw bad("bad central directory entry " + std::to_string(i));
    const uint64_t method = le(&cd[p + 10], 2), crc = le(&cd[p + 16], 4), name_len = le(&cd[p + 28], 2), extra_len = le(&cd[p + 30], 2),
                   comment_len = le(&cd[p + 32], 2);
    uint64_t comp = le(&cd[p + 20], 4), usize = le(&cd[p + 24], 4), local = le(&cd[p + 42], 4);
    if (p + 46 + name_len + extra_len > cd.size()) throw bad("bad central directory entry " + std::to_string(i));
    const std::string name(reinterpret_cast<const char*>(&cd[p + 46]), name_len);
    for (uint64_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {  // ZIP64 extra: the 0xFFFFFFFF fields in order
      const uint64_t id = le(&cd[x], 2), len = le(&cd[x + 2], 2);
      if (id == 1) {
        uint64_t q = x + 4;
        if (usize == 0xFFFFFFFFu && q + 8 <= x + 4 + len) usize = le(&cd[q], 8), q += 8;
        if (comp == 0xFFFFFFFFu && q + 8 <= x + 4 + len) comp = le(&cd[q], 8), q += 8;
        if (local == 0xFFFFFFFFu && q + 8 <= x + 4 + len) local = le(&cd[q], 8);
      }
      x += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;
    if (!wanted(name)) continue;
    sizes.insert(usize);
    if (method != 0) continue;  // LibTorch stores tensor records uncompressed
    const auto lh = read_at(local, 30);
    if (le(&lh[0], 4) != 0x04034b50) throw bad("bad local header of " + name);
    uint64_t pos = local + 30 + le(&lh[26], 2) + le(&lh[28], 2), left = usize;
    if (pos + left > size) throw bad(name + " extends beyond the end of the file");
    uint32_t got = 0;
    in.seekg(static_cast<std::streamoff>(pos));
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
      if (!in) throw bad("cannot read " + name);
      got = crc32_update(got, buf.data(), n);
      left -= n;
    }
    if (got != crc) {
      char hex[64];
      std::snprintf(hex, sizeof(hex), "%08x but the archive records %08x", got, static_cast<uint32_t>(crc));
      throw bad("record " + name + " has CRC-32 " + hex);
    }
  }
  return sizes;
}

// The extent of a dense tensor in its storage, in bytes: (offset + sum (size_d - 1) * stride_d + 1) * itemsize.
uint64_t bytes_needed(const at::Tensor& t) {
  if (t.numel() == 0) return 0;
  int64_t last = t.storage_offset();
  for (int64_t d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
  return static_cast<uint64_t>(last + 1) * static_cast<uint64_t>(t.element_size());
}

// torch::jit::load sizes each storage from the pickle (numel x itemsize) and fills it from its archive record
// without comparing the record's length: a truncated or edited bundle reads past the buffer (run-dependent
// logits). Each storage a parameter, buffer or tensor attribute uses must have a record of its exact size
// (records hold numel x itemsize bytes), and each tensor must fit its storage.
void check_storages(const torch::jit::Module& m, const std::string& path) {
  auto is_storage_record = [](const std::string& name) {  // <archive>/data/N, <archive>/constants/N
    const size_t slash = name.rfind('/');
    if (slash == std::string::npos || slash + 1 == name.size() || name.find_first_not_of("0123456789", slash + 1) != std::string::npos) return false;
    const std::string dir = name.substr(0, slash), last = dir.substr(dir.rfind('/') == std::string::npos ? 0 : dir.rfind('/') + 1);
    return last == "data" || last == "constants";
  };
  std::multiset<uint64_t> records = checked_record_sizes(path, is_storage_record);  // sizes of the storage records
  std::set<const void*> seen;
  auto check = [&](const std::string& name, const at::Tensor& t) {
    if (!t.defined() || !t.has_storage() || t.layout() != at::kStrided) return;
    const uint64_t need = bytes_needed(t), have = t.storage().nbytes();
    if (have < need) {
      throw Error(ErrorCode::kBadModel, path + ": tensor " + name + " needs " + std::to_string(need) + " bytes but its storage holds " +
                                            std::to_string(have) + " (truncated or corrupt bundle)");
    }
    if (have == 0 || !seen.insert(t.storage().unsafeGetStorageImpl()).second) return;
    auto it = records.find(have);
    if (it == records.end()) {
      throw Error(ErrorCode::kBadModel, path + ": tensor " + name + " needs a storage of " + std::to_string(have) +
                                            " bytes but no storage record in the archive has that size (truncated or corrupt bundle)");
    }
    records.erase(it);
  };
  for (const auto& p : m.named_parameters(true)) check(p.name, p.value);
  for (const auto& b : m.named_buffers(true)) check(b.name, b.value);
  for (const auto& a : m.named_attributes(true)) {
    if (a.value.isTensor()) check(a.name, a.value.toTensor());
  }
}

torch::jit::Module load_module(const std::string& dir, const Sidecar& s, c10::Device device) {
  const std::string path = core::join_path(dir, kBundleModule);
  if (!core::path_exists(path) || core::is_directory(path)) throw Error(ErrorCode::kNotFound, "TorchScript bundle has no " + path);
  torch::jit::Module m;
  try {
    m = torch::jit::load(path, device);
  } catch (...) {
    rethrow_bundle_failure(ErrorCode::kBadModel, "Cannot load " + path + " with LibTorch " + std::string(TORCH_VERSION) + ": ");
  }
  check_storages(m, path);
  m.eval();
  // Attribution differentiates with respect to the inputs only: no parameter joins the autograd graph.
  for (at::Tensor p : m.parameters()) p.requires_grad_(false);
  const auto& required = s.kind == "decoder-only" ? kDecoderOnlyMethods : kEncoderDecoderMethods;
  for (const auto& name : required) {
    if (!m.find_method(name)) {
      throw Error(ErrorCode::kBadModel, path + " lacks the contract method \"" + name + "\" required for " + s.kind + " bundles (docs/torchscript.md)");
    }
  }
  for (const auto& name : s.methods) {
    if (!m.find_method(name)) throw Error(ErrorCode::kBadModel, s.path + " lists method \"" + name + "\" but " + path + " does not export it");
  }
  return m;
}

// Runs a bundle method; the TorchScript interpreter never sees inference mode or an inference tensor. Its executor
// keeps optimised graphs across calls (on CUDA, differentiable fused graphs after the first profiling runs) that
// may save any input for a backward pass, and autograd refuses to save inference tensors: on an H200, SIG, occlusion
// and LIME failed so once gradient methods had run. So a caller's c10::InferenceMode becomes no-grad here, and
// inference tensors given as arguments (masks, cached prefix embeddings, ids moved to the device under a caller's
// inference mode; on the CPU `.to(cpu)` returns the tensor itself, on CUDA a new inference tensor) are cloned into
// plain ones.
c10::IValue run(const torch::jit::Module& module, const std::string& name, std::vector<c10::IValue> args) {
  std::optional<c10::InferenceMode> plain;
  std::optional<at::NoGradGuard> no_grad;
  if (c10::InferenceMode::is_enabled()) {
    plain.emplace(false);
    no_grad.emplace();
  }
  for (auto& a : args) {
    if (a.isTensor() && a.toTensor().is_inference()) a = a.toTensor().clone();
  }
  try {
    return const_cast<torch::jit::Module&>(module).get_method(name)(std::move(args));
  } catch (...) {
    rethrow_bundle_failure(ErrorCode::kBadModel, "Bundle method " + name + " failed: ");
  }
}

at::Tensor as_tensor(const c10::IValue& v, const std::string& what) {
  if (!v.isTensor()) throw Error(ErrorCode::kBadModel, "Bundle method " + what + " must return a Tensor");
  return v.toTensor();
}

std::vector<c10::IValue> as_tuple(const c10::IValue& v, size_t n, const std::string& what) {
  if (!v.isTuple() || v.toTuple()->elements().size() != n) {
    throw Error(ErrorCode::kBadModel, "Bundle method " + what + " must return a tuple of " + std::to_string(n) + " tensors");
  }
  const auto& el = v.toTuple()->elements();
  return std::vector<c10::IValue>(el.begin(), el.end());
}

std::vector<at::Tensor> unstack_layers(const at::Tensor& stacked) {  // [layers, ...] -> per layer
  std::vector<at::Tensor> out;
  for (int64_t l = 0; l < stacked.size(0); ++l) out.push_back(stacked[l]);
  return out;
}

// ---- decoder-only -------------------------------------------------------------------------------

class TorchScriptCausalLM : public CausalLM {
 public:
  TorchScriptCausalLM(const Sidecar& s, torch::jit::Module m, c10::Device device) : module_(std::move(m)) {
    device_ = device;
    config_.model_type = s.model_type;
    config_.family = "torchscript";
    config_.vocab_size = s.vocab_size;
    config_.hidden_size = s.hidden_size;
    config_.num_layers = s.num_layers;
    config_.num_heads = config_.num_kv_heads = s.num_heads;
    config_.head_dim = s.hidden_size / s.num_heads;
    config_.intermediate_size = 4 * s.hidden_size;
    config_.max_position_embeddings = s.max_positions;
    config_.bos_token_id = s.bos;
    config_.eos_token_ids = s.eos;
    config_.pad_token_id = s.pad;
    has_attentions_ = module_.find_method("forward_attentions").has_value();
  }

  at::Tensor embed(const at::Tensor& ids) const override {
    return as_tensor(run(module_, "embed", {ids.to(device_, at::kLong)}), "embed");  // [b, n, d]
  }

  ForwardResult forward(const ForwardRequest& r) const override {
    if (r.layer_output_hook) {
      throw Error(ErrorCode::kUnsupportedModel, "This method needs per-block activations; TorchScript bundles expose only embeddings, logits and attentions");
    }
    if (r.output_hidden_states || r.value_hook) {
      throw Error(ErrorCode::kUnsupportedModel, "This method needs hidden states or attention values, which TorchScript bundles do not expose");
    }
    if (r.output_attentions && !has_attentions_) {
      throw Error(ErrorCode::kUnsupportedModel, "This bundle exports no forward_attentions: the attention method is not available");
    }
    at::Tensor embeds = r.inputs_embeds;  // [b, seq, d]
    const int64_t b = embeds.size(0), seq = embeds.size(1);
    at::Tensor mask = request_mask(r, b, seq, device_).to(at::kLong);  // [b, past + seq], checked against the cache
    int64_t past = 0;
    if (r.cache) {  // no KV cache inside a bundle: keep the embeddings and re-run the whole sequence
      if (!r.cache->keys.empty() && r.cache->keys[0].defined()) {
        past = r.cache->keys[0].size(2);
        embeds = at::cat({r.cache->keys[0].squeeze(1), embeds}, 1);
      }
      r.cache->keys = {embeds.unsqueeze(1)};  // [b, 1, past + seq, d]
      r.cache->values = {at::Tensor()};
    }
    const int64_t limit = config_.max_position_embeddings;
    if (limit > 0 && past + seq > limit) {
      throw Error(ErrorCode::kInvalidOption, "Sequence of " + std::to_string(past + seq) + " tokens exceeds the bundle's limit of " +
                                                 std::to_string(limit) + " positions");
    }
    ForwardResult out;
    at::Tensor logits;
    if (r.output_attentions) {
      auto t = as_tuple(run(module_, "forward_attentions", {embeds, mask}), 2, "forward_attentions");
      logits = as_tensor(t[0], "forward_attentions");
      for (auto& a : unstack_layers(as_tensor(t[1], "forward_attentions"))) out.attentions.push_back(a.slice(2, past));
    } else {
      logits = as_tensor(run(module_, "forward_embeds", {embeds, mask}), "forward_embeds");  // [b, past + seq, V]
    }
    if (logits.dim() != 3 || logits.size(2) != config_.vocab_size) {
      throw Error(ErrorCode::kBadModel, "forward_embeds returned logits of shape " + shape(logits) + ", expected [b, n, " + std::to_string(config_.vocab_size) + "]");
    }
    out.logits = select_logit_positions(r, logits.slice(1, past)).to(at::kFloat);
    return out;
  }

  bool takes_position_ids() const override { return false; }
  // Embeddings, logits and (optionally) attentions only: no block hooks, values, DeepLIFT rule or dropout.
  ModelCapabilities capabilities() const override {
    ModelCapabilities c;
    c.block_hooks = c.deeplift_rule = c.value_hooks = c.dropout = c.prefix_cache = false;
    c.attention_weights = has_attentions_;
    return c;
  }

  std::map<std::string, at::Tensor> named_parameters() const override {
    std::map<std::string, at::Tensor> out;
    for (const auto& p : module_.named_parameters()) out[p.name] = p.value;
    return out;
  }

 private:
  static std::string shape(const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
  }
  torch::jit::Module module_;
  bool has_attentions_ = false;
};

// ---- encoder-decoder ----------------------------------------------------------------------------

class TorchScriptEncoderDecoder : public EncoderDecoderLM {
 public:
  TorchScriptEncoderDecoder(const Sidecar& s, torch::jit::Module m, c10::Device device) : module_(std::move(m)) {
    device_ = device;
    info_.model_type = s.model_type;
    info_.implementation = "torchscript";
    info_.vocab_size = s.vocab_size;
    info_.source_vocab_size = s.source_vocab_size;
    info_.hidden_size = s.hidden_size;
    info_.decoder_layers = s.num_layers;
    info_.encoder_layers = s.encoder_layers;
    info_.num_heads = s.num_heads;
    info_.encoder_heads = s.encoder_heads;
    info_.max_positions = s.max_positions;
    info_.pad_token_id = s.pad;
    info_.decoder_start_token_id = s.decoder_start;
    info_.bos_token_id = s.bos;
    info_.unk_token_id = s.unk;
    info_.eos_token_ids = s.eos;
    info_.embed_scale = s.embed_scale;
    info_.has_attentions = module_.find_method("forward_attentions").has_value();
  }

  at::Tensor embed_source(const at::Tensor& ids) const override {
    return as_tensor(run(module_, "embed_source", {ids.to(device_, at::kLong)}), "embed_source");  // [b, s, d]
  }
  at::Tensor embed_target(const at::Tensor& ids) const override {
    return as_tensor(run(module_, "embed_target", {ids.to(device_, at::kLong)}), "embed_target");  // [b, t, d]
  }

  EncDecOutput forward(const EncDecRequest& r) const override {
    if (r.value_hook || r.layer_hook || r.output_final_states) {
      throw Error(ErrorCode::kUnsupportedModel, "This method needs attention values or per-block states, which TorchScript bundles do not expose");
    }
    check_lengths(r.source_embeds.size(1), r.target_embeds.size(1));
    std::vector<c10::IValue> args = {r.source_embeds, r.source_mask.to(device_, at::kLong), r.target_embeds};
    EncDecOutput out;
    if (r.output_attentions) {
      if (!info_.has_attentions) throw Error(ErrorCode::kUnsupportedModel, "This bundle exports no forward_attentions: the attention method is not available");
      auto t = as_tuple(run(module_, "forward_attentions", std::move(args)), 4, "forward_attentions");
      out.logits = as_tensor(t[0], "forward_attentions");
      out.cross_attentions = unstack_layers(as_tensor(t[1], "forward_attentions"));
      out.decoder_attentions = unstack_layers(as_tensor(t[2], "forward_attentions"));
      out.encoder_attentions = unstack_layers(as_tensor(t[3], "forward_attentions"));
    } else {
      out.logits = as_tensor(run(module_, "forward_embeds", std::move(args)), "forward_embeds");  // [b, t, V]
    }
    if (out.logits.dim() != 3 || out.logits.size(2) != info_.vocab_size) {
      throw Error(ErrorCode::kBadModel, "forward_embeds must return logits [b, t, " + std::to_string(info_.vocab_size) + "] (sidecar vocab_size)");
    }
    out.logits = out.logits.to(at::kFloat);
    if (r.logits_positions.defined()) {  // the module computes every row; keep the asked ones [b, P, V]
      const at::Tensor pos = r.logits_positions.to(out.logits.device(), at::kLong);
      out.logits = out.logits.gather(1, pos.unsqueeze(-1).expand({pos.size(0), pos.size(1), out.logits.size(2)}));
    }
    return out;
  }

 private:
  torch::jit::Module module_;
};

// One tiny forward on load, so a sidecar that disagrees with its module fails now with a clear message.
void probe_hidden(const at::Tensor& embeds, const Sidecar& s, const std::string& method) {
  if (embeds.dim() != 3 || embeds.size(2) != s.hidden_size) {
    throw Error(ErrorCode::kBadModel, s.path + ": hidden_size " + std::to_string(s.hidden_size) + " disagrees with " + method + "'s output");
  }
}

// The sidecar's layer and head counts against the attentions the module returns ([b, heads, q, k] per layer).
void probe_layers(const std::vector<at::Tensor>& attentions, int64_t layers, int64_t heads, const Sidecar& s, const char* key,
                  const std::string& what) {
  if (static_cast<int64_t>(attentions.size()) != layers) {
    throw Error(ErrorCode::kBadModel, s.path + ": " + key + " " + std::to_string(layers) + " disagrees with the " +
                                          std::to_string(attentions.size()) + " layers of " + what);
  }
  for (const auto& a : attentions) {
    if (a.dim() != 4 || a.size(1) != heads) {
      throw Error(ErrorCode::kBadModel, s.path + ": the head count " + std::to_string(heads) + " disagrees with " + what + " of shape " +
                                            std::to_string(a.dim() == 4 ? a.size(1) : -1) + " heads");
    }
  }
}

}  // namespace

bool is_torchscript_bundle(const std::string& dir) { return core::path_exists(core::join_path(dir, kBundleSidecar)); }

std::string bundle_model_kind(const std::string& dir) { return read_sidecar(dir).kind; }

std::shared_ptr<CausalLM> load_torchscript_causal_lm(const std::string& dir, c10::Device device) {
  Sidecar s = read_sidecar(dir);
  if (s.kind != "decoder-only") throw Error(ErrorCode::kUnsupportedModel, dir + " is an encoder-decoder bundle: load it with loadSeq2SeqModel");
  auto model = std::make_shared<TorchScriptCausalLM>(s, load_module(dir, s, device), device);
  c10::InferenceMode guard;
  const int64_t probe_id = std::max<int64_t>(s.bos, 0);
  at::Tensor ids = at::full({1, 1}, probe_id, at::kLong);
  ForwardRequest fr;
  fr.inputs_embeds = model->embed(ids);  // [1, 1, d]
  probe_hidden(fr.inputs_embeds, s, "embed");
  model->forward(fr);  // checks the logits' vocabulary size
  fr.output_attentions = true;
  try {
    const ForwardResult out = model->forward(fr);
    probe_layers(out.attentions, s.num_layers, s.num_heads, s, "num_layers", "forward_attentions");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kUnsupportedModel) throw;  // no forward_attentions: nothing to compare
  }
  return model;
}

std::shared_ptr<EncoderDecoderLM> load_torchscript_encoder_decoder(const std::string& dir, c10::Device device) {
  Sidecar s = read_sidecar(dir);
  if (s.kind != "encoder-decoder") throw Error(ErrorCode::kUnsupportedModel, dir + " is a decoder-only bundle: load it with loadModel");
  auto model = std::make_shared<TorchScriptEncoderDecoder>(s, load_module(dir, s, device), device);
  c10::InferenceMode guard;
  at::Tensor src = at::full({1, 1}, std::max<int64_t>(s.unk, 0), at::kLong);
  at::Tensor tgt = at::full({1, 1}, s.decoder_start, at::kLong);
  EncDecRequest req;
  req.source_embeds = model->embed_source(src);
  req.target_embeds = model->embed_target(tgt);
  probe_hidden(req.source_embeds, s, "embed_source");
  probe_hidden(req.target_embeds, s, "embed_target");
  req.source_mask = at::ones({1, 1}, at::kLong);
  model->forward(req);
  if (model->info().has_attentions) {
    req.output_attentions = true;
    const EncDecOutput out = model->forward(req);
    probe_layers(out.cross_attentions, s.num_layers, s.num_heads, s, "num_layers", "forward_attentions' cross attentions");
    if (s.encoder_layers > 0) probe_layers(out.encoder_attentions, s.encoder_layers, s.encoder_heads, s, "encoder_layers", "forward_attentions' encoder attentions");
  }
  return model;
}

}  // namespace inseq::models
