#include "models/safetensors.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "core/files.h"
#include "core/json.h"

namespace inseq::models {

using core::Error;
using core::ErrorCode;
using core::Json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the safetensors spec caps headers at 100 MB

struct DtypeInfo {
  c10::ScalarType type;
  int64_t bytes;
};

DtypeInfo dtype_info(const std::string& name, const std::string& file, const std::string& tensor) {
  if (name == "F32") return {c10::ScalarType::Float, 4};
  if (name == "F16") return {c10::ScalarType::Half, 2};
  if (name == "BF16") return {c10::ScalarType::BFloat16, 2};
  if (name == "F64") return {c10::ScalarType::Double, 8};
  if (name == "I64") return {c10::ScalarType::Long, 8};
  if (name == "I32") return {c10::ScalarType::Int, 4};
  if (name == "I16") return {c10::ScalarType::Short, 2};
  if (name == "I8") return {c10::ScalarType::Char, 1};
  if (name == "U8") return {c10::ScalarType::Byte, 1};
  if (name == "BOOL") return {c10::ScalarType::Bool, 1};
  throw Error(ErrorCode::kBadCheckpoint,
              "Unsupported safetensors dtype " + name + " for tensor " + tensor + " in " + file);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

}  // namespace

void WeightStore::add_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "Cannot open safetensors file " + path);
  const uint64_t file_size = core::file_size(path);
  if (file_size < 8) throw Error(ErrorCode::kBadCheckpoint, "Truncated safetensors file " + path + " (" + std::to_string(file_size) + " bytes)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeaderBytes || header_len > file_size - 8) {
    throw Error(ErrorCode::kBadCheckpoint, "Corrupt safetensors file " + path + ": header length " +
                                               std::to_string(header_len) + " exceeds the file size " + std::to_string(file_size));
  }
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  Json meta;
  try {
    meta = Json::parse(header);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, "Corrupt safetensors header in " + path + ": " + e.what());
  }
  if (!meta.is_object()) throw Error(ErrorCode::kBadCheckpoint, "Corrupt safetensors header in " + path + ": not a JSON object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> spans;  // (begin, end, name)
  for (const auto& [name, value] : meta.as_object()) {
    if (name == "__metadata__") continue;
    try {
      TensorEntry e;
      e.file = path;
      e.data_start = data_start;
      e.dtype = value["dtype"].as_string();
      for (const auto& d : value["shape"].as_array()) e.shape.push_back(d.as_int());
      const auto& offsets = value["data_offsets"].as_array();
      if (offsets.size() != 2) throw std::runtime_error("data_offsets must have two entries");
      e.begin = static_cast<uint64_t>(offsets[0].as_int());
      e.end = static_cast<uint64_t>(offsets[1].as_int());
      int64_t numel = 1;
      for (int64_t d : e.shape) {
        if (d < 0) throw std::runtime_error("negative dimension");
        numel *= d;
      }
      const DtypeInfo info = dtype_info(e.dtype, path, name);
      if (e.end < e.begin || e.end - e.begin != static_cast<uint64_t>(numel * info.bytes)) {
        throw std::runtime_error("byte span " + std::to_string(e.end - e.begin) + " does not match shape " + shape_str(e.shape) + " of " + e.dtype);
      }
      if (e.end > data_size) {
        throw std::runtime_error("data ends at byte " + std::to_string(e.end) + " but the file has " + std::to_string(data_size) + " data bytes (truncated file?)");
      }
      spans.emplace_back(e.begin, e.end, name);
      total_bytes_ += e.end - e.begin;
      entries_[name] = std::move(e);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& err) {
      throw Error(ErrorCode::kBadCheckpoint, "Corrupt safetensors entry " + name + " in " + path + ": " + err.what());
    }
  }
  // As the safetensors library validates: the tensors tile the data section, in order, without gaps or overlaps
  // (a shifted span would read a neighbour's bytes).
  std::sort(spans.begin(), spans.end());
  uint64_t at = 0;
  for (const auto& [begin, end, name] : spans) {
    if (begin != at) {
      throw Error(ErrorCode::kBadCheckpoint, "Corrupt safetensors entry " + name + " in " + path + ": data starts at byte " + std::to_string(begin) +
                                                 " but the previous tensor ends at " + std::to_string(at) + " (overlapping or gapped data_offsets)");
    }
    at = end;
  }
  if (at != data_size) {
    throw Error(ErrorCode::kBadCheckpoint, "Corrupt safetensors file " + path + ": the tensors cover " + std::to_string(at) + " of its " +
                                               std::to_string(data_size) + " data bytes");
  }
}

WeightStore WeightStore::open_file(const std::string& path) {
  WeightStore store;
  store.add_file(path);
  return store;
}

WeightStore WeightStore::open_dir(const std::string& dir) {
  const std::string single = core::join_path(dir, "model.safetensors");
  const std::string index = core::join_path(dir, "model.safetensors.index.json");
  WeightStore store;
  if (core::path_exists(single)) {
    store.add_file(single);
    return store;
  }
  if (!core::path_exists(index)) {
    throw Error(ErrorCode::kNotFound, "No model.safetensors or model.safetensors.index.json in " + dir);
  }
  Json idx;
  try {
    idx = Json::parse(core::read_text_file(index));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kBadCheckpoint, "Corrupt " + index + ": " + e.what());
  }
  if (!idx["weight_map"].is_object()) throw Error(ErrorCode::kBadCheckpoint, "Corrupt " + index + ": no weight_map object");
  std::set<std::string> shards;
  for (const auto& [name, file] : idx["weight_map"].as_object()) {
    if (!file.is_string()) throw Error(ErrorCode::kBadCheckpoint, "Corrupt " + index + ": weight_map entry " + name + " is not a file name");
    shards.insert(file.as_string());
  }
  for (const auto& shard : shards) store.add_file(core::join_path(dir, shard));
  for (const auto& [name, file] : idx["weight_map"].as_object()) {
    if (!store.contains(name)) {
      throw Error(ErrorCode::kBadCheckpoint, "Tensor " + name + " listed in " + index + " is missing from " + file.as_string());
    }
  }
  return store;
}

const TensorEntry& WeightStore::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw Error(ErrorCode::kBadCheckpoint, "Checkpoint has no tensor named " + name);
  return it->second;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

at::Tensor WeightStore::load(const std::string& name, const std::vector<int64_t>& expected_shape,
                             c10::ScalarType dtype, c10::Device device) const {
  const TensorEntry& e = entry(name);
  if (!expected_shape.empty() && e.shape != expected_shape) {
    throw Error(ErrorCode::kBadCheckpoint, "Tensor " + name + " in " + e.file + " has shape " + shape_str(e.shape) +
                                               " but the config implies " + shape_str(expected_shape));
  }
  const DtypeInfo info = dtype_info(e.dtype, e.file, name);
  const core::MappedFile& map = shard(e.file);
  const uint64_t begin = e.data_start + e.begin, end = e.data_start + e.end;  // byte offsets into the file
  unsigned char* bytes = map.data() + begin;
  const auto stored = at::TensorOptions().dtype(info.type);
  const bool aligned = reinterpret_cast<uintptr_t>(bytes) % static_cast<uintptr_t>(info.bytes) == 0;
  at::Tensor out;
  if (aligned && device.is_cpu() && info.type == dtype) {
    // [shape...] a view of the mapping; the deleter holds the mapping until the last view goes.
    std::shared_ptr<core::MappedFile> keep = shard_;
    out = at::from_blob(bytes, e.shape, [keep](void*) {}, stored);
  } else {
    at::Tensor raw;  // [shape...] the stored bytes
    if (aligned) {
      raw = at::from_blob(bytes, e.shape, stored);
    } else {  // a writer that did not align the data section: copy to an aligned buffer first
      raw = at::empty(e.shape, stored);
      std::memcpy(raw.data_ptr(), bytes, end - begin);
    }
    out = raw.to(device, dtype, /*non_blocking=*/false, /*copy=*/aligned);
    map.release(begin, end);  // copied: its pages leave RSS now, not with the shard
  }
  if (loaded_.insert(name).second) loaded_bytes_ += e.end - e.begin;
  if (progress_) progress_(loaded_bytes_, total_bytes_);
  return out;
}

const core::MappedFile& WeightStore::shard(const std::string& file) const {
  if (!shard_ || shard_->path() != file) {
    shard_.reset();  // unmap the previous shard (unless views hold it) before mapping the next
    shard_ = core::MappedFile::open(file);
  }
  return *shard_;
}

void WeightStore::finish_progress() const {
  if (progress_) progress_(total_bytes_, total_bytes_);
}

void WeightStore::reject_unused(const std::string& source, const std::function<bool(const std::string&)>& ignorable,
                                const std::vector<LayerStack>& stacks) const {
  std::vector<std::string> unused;
  for (const auto& [name, e] : entries_) {
    if (!loaded_.count(name) && !ignorable(name)) unused.push_back(name);
  }
  if (unused.empty()) return;
  std::string list;
  for (size_t i = 0; i < unused.size() && i < 3; ++i) list += (i ? ", " : "") + unused[i];
  if (unused.size() > 3) list += ", ... (" + std::to_string(unused.size()) + " in all)";
  for (const auto& name : unused) {
    for (const auto& s : stacks) {
      if (name.rfind(s.prefix, 0) != 0) continue;
      const size_t digits_end = name.find('.', s.prefix.size());
      const std::string idx = name.substr(s.prefix.size(), digits_end - s.prefix.size());
      if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos || idx.size() > 9) continue;
      if (std::stoll(idx) >= s.count) {
        throw Error(ErrorCode::kBadCheckpoint, source + ": " + s.key + " is " + std::to_string(s.count) + " but the checkpoint has block " + idx +
                                                   " (" + name + "); the config disagrees with the weights, which would be silently ignored");
      }
    }
  }
  throw Error(ErrorCode::kBadCheckpoint, source + ": the checkpoint holds tensors this config does not use (" + list +
                                             "); the config disagrees with the weights (a bias or tying switch, a layer count?)");
}

void save_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata, c10::ScalarType dtype) {
  const char* dtype_tag = dtype == at::kBFloat16 ? "BF16" : dtype == at::kHalf ? "F16" : "F32";
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf) {
    throw Error(ErrorCode::kInvalidOption, std::string("save_safetensors writes float32, float16 or bfloat16, not ") + c10::toString(dtype));
  }
  auto escape = [](const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\';
      o += c;
    }
    return o;
  };
  std::vector<at::Tensor> data;
  std::ostringstream header;
  header << "{";
  bool first = true;
  if (!metadata.empty()) {
    header << "\"__metadata__\":{";
    bool f2 = true;
    for (const auto& [k, v] : metadata) {
      header << (f2 ? "" : ",") << "\"" << escape(k) << "\":\"" << escape(v) << "\"";
      f2 = false;
    }
    header << "}";
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(at::kCPU, dtype).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.nbytes());
    header << (first ? "" : ",") << "\"" << escape(name) << "\":{\"dtype\":\"" << dtype_tag << "\",\"shape\":[";
    for (int64_t i = 0; i < c.dim(); ++i) header << (i ? "," : "") << c.size(i);
    header << "],\"data_offsets\":[" << offset << "," << offset + bytes << "]}";
    first = false;
    offset += bytes;
    data.push_back(c);
  }
  header << "}";
  std::string h = header.str();
  while ((8 + h.size()) % 8 != 0) h += ' ';
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorCode::kNotFound, "Cannot write " + tmp);
    uint64_t n = h.size();
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xFF);
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& c : data) out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
    if (!out) throw Error(ErrorCode::kNotFound, "Failed writing " + tmp);
  }
  core::rename_path(tmp, path);
}

}  // namespace inseq::models
