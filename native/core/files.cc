#include "core/files.h"

#include <ftw.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace inseq::core {

namespace {
// statx (glibc 2.28) rather than stat, which glibc exports only since 2.33 (core/glibc_compat.h).
bool status(const std::string& path, struct statx& sx) {
  return ::statx(AT_FDCWD, path.c_str(), 0, STATX_TYPE | STATX_SIZE, &sx) == 0;
}
}  // namespace

bool path_exists(const std::string& path) {
  struct statx sx {};
  return status(path, sx);
}

bool is_directory(const std::string& path) {
  struct statx sx {};
  return status(path, sx) && S_ISDIR(sx.stx_mode);
}

uint64_t file_size(const std::string& path) {
  struct statx sx {};
  if (!status(path, sx)) throw Error(ErrorCode::kNotFound, "Cannot stat " + path + ": " + std::strerror(errno));
  return static_cast<uint64_t>(sx.stx_size);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kNotFound, "Cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void rename_path(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw Error(ErrorCode::kNotFound, "Cannot rename " + from + " to " + to + ": " + std::strerror(errno));
  }
}

std::string make_temp_dir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = join_path(tmp && *tmp ? tmp : "/tmp", prefix + "-XXXXXX");
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw Error(ErrorCode::kNotFound, "Cannot create a temporary directory " + pattern);
  return std::string(buf.data());
}

void remove_tree(const std::string& path) {
  ::nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p) == 0 ? 0 : 0; }, 16,
      FTW_DEPTH | FTW_PHYS);
}

}  // namespace inseq::core
