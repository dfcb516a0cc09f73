// Safetensors reading: one file, or a sharded checkpoint through model.safetensors.index.json.
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}}, raw data.
//
// Files are memory-mapped (core::MappedFile), one shard at a time. A tensor whose stored dtype is the one asked
// for, on the CPU, is a view of the mapping (no copy in RAM: its pages are the page cache's, counted once, and
// the mapping lives as long as a tensor views it). Any other tensor is converted / moved to the device from the
// mapping and its pages are dropped at once, so loading needs the model plus one tensor, not model + checkpoint.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace inseq::core {
class MappedFile;
}

namespace inseq::models {

// Load progress: bytes of the checkpoint's tensors read so far, of all its tensors' bytes. Called on the loading
// thread after each tensor, and once with (total, total) when the model is complete.
using LoadProgress = std::function<void(uint64_t loaded_bytes, uint64_t total_bytes)>;

struct TensorEntry {
  std::string file;            // absolute path of the .safetensors file that holds it
  std::string dtype;           // "F32" | "F16" | "BF16" | "I64" | "I32" | ...
  std::vector<int64_t> shape;
  uint64_t begin = 0;          // byte offsets into the data section
  uint64_t end = 0;
  uint64_t data_start = 0;     // 8 + header length
};

// Index of all tensors of a checkpoint. Opening validates every header; tensors are read on demand.
class WeightStore {
 public:
  // `dir` holds model.safetensors or model.safetensors.index.json (+ shards).
  static WeightStore open_dir(const std::string& dir);
  static WeightStore open_file(const std::string& path);

  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  const TensorEntry& entry(const std::string& name) const;
  std::vector<std::string> names() const;

  // A tensor, its shape checked (when `expected_shape` is non-empty), as dtype on device: a view of the mapped
  // file when it is stored as dtype and device is the CPU (and its bytes are aligned for dtype), else a copy.
  at::Tensor load(const std::string& name, const std::vector<int64_t>& expected_shape, c10::ScalarType dtype,
                  c10::Device device) const;

  // Progress of load(): reported after each tensor; finish_progress() reports (total, total).
  void set_progress(LoadProgress progress) { progress_ = std::move(progress); }
  void finish_progress() const;
  uint64_t total_bytes() const { return total_bytes_; }  // all tensors' data bytes, every shard

  // A stack of blocks in the checkpoint's names ("model.layers.<i>.") and the config key that counts them.
  struct LayerStack {
    std::string prefix;  // "model.layers."
    std::string key;     // "num_hidden_layers"
    int64_t count;
  };
  // After a model read its weights: tensors no load() read, other than `ignorable` ones (buffers and aliases
  // that transformers skips too), mean a config that disagrees with the checkpoint (fewer layers, a bias
  // switched off) -> kBadCheckpoint naming the config key when a tensor belongs to a block beyond `count`.
  void reject_unused(const std::string& source, const std::function<bool(const std::string&)>& ignorable,
                     const std::vector<LayerStack>& stacks) const;

 private:
  void add_file(const std::string& path);
  const core::MappedFile& shard(const std::string& file) const;
  std::map<std::string, TensorEntry> entries_;
  mutable std::set<std::string> loaded_;  // names load() has read
  // The shard load() reads now; mapping the next one drops it (views keep their own reference).
  mutable std::shared_ptr<core::MappedFile> shard_;
  LoadProgress progress_;
  uint64_t total_bytes_ = 0;
  mutable uint64_t loaded_bytes_ = 0;
};

// Writes tensors as one safetensors file (used by the trainer and tests), as `dtype` (float32, float16 or
// bfloat16). Tensors are made contiguous and moved to CPU; names are written in sorted order as the safetensors
// library does.
void save_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      c10::ScalarType dtype = c10::ScalarType::Float);

}  // namespace inseq::models
