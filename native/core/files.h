// File helpers on plain POSIX calls. std::filesystem is avoided on purpose: the LibTorch inside pip's torch
// wheel exports its own copy of libstdc++'s std::filesystem symbols, and calls bound to that copy crash
// (seen with torch 2.11: std::filesystem::remove_all segfaulted inside libtorch.so).
#pragma once

#include <cstdint>
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

}  // namespace inseq::core
