// File helpers on plain POSIX calls. std::filesystem is avoided on purpose: the LibTorch inside pip's torch
// wheel exports its own copy of libstdc++'s std::filesystem symbols, and calls bound to that copy crash
// (seen with torch 2.11: std::filesystem::remove_all segfaulted inside libtorch.so).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace inseq::core {

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
uint64_t file_size(const std::string& path);  // throws Error(kNotFound)
std::string join_path(const std::string& dir, const std::string& name);
std::string read_text_file(const std::string& path);  // throws Error(kNotFound)
void rename_path(const std::string& from, const std::string& to);  // throws Error(kNotFound)
std::string make_temp_dir(const std::string& prefix);  // under $TMPDIR or /tmp
void remove_tree(const std::string& path);             // best effort, like rm -rf

// A whole file mapped into memory, private and copy-on-write: pages are read from the file (page cache) when
// first touched and count once in RSS; a write changes this process's copy only, never the file. Unmapped when
// the last shared_ptr goes (tensors that view the mapping hold one). An empty file maps to no memory.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);  // throws Error(kNotFound)
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  unsigned char* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Drops the pages wholly inside [begin, end) from this process (they are re-read from the file if touched
  // again). For bytes that were copied elsewhere and are no longer viewed: frees their RSS at once instead of
  // when the mapping goes.
  void release(uint64_t begin, uint64_t end) const;

 private:
  MappedFile() = default;
  std::string path_;
  unsigned char* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace inseq::core
