#include "core/files.h"

#include <ftw.h>
#include <fcntl.h>
#include <sys/mman.h>
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

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  const uint64_t size = file_size(path);
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  if (size == 0) return m;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kNotFound, "Cannot open " + path + ": " + std::strerror(errno));
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);  // the mapping keeps the file open
  if (p == MAP_FAILED) throw Error(ErrorCode::kNotFound, "Cannot map " + path + ": " + std::strerror(mmap_errno));
  m->data_ = static_cast<unsigned char*>(p);
  m->size_ = size;
  return m;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

void MappedFile::release(uint64_t begin, uint64_t end) const {
  if (data_ == nullptr || end > size_) return;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t first = (begin + page - 1) / page * page, last = end / page * page;  // whole pages inside
  if (last > first) ::madvise(data_ + first, last - first, MADV_DONTNEED);
}

}  // namespace inseq::core
