// Runs every registered test: `inseq_core_tests [--device cpu|cuda] [filter]`.
#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/device.h"
#include "tests/test.h"

namespace inseq::testing {

namespace {
c10::Device g_device(c10::kCPU);
}

std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}
c10::Device test_device() { return g_device; }
std::string repo_dir() {
  const char* env = std::getenv("INSEQ_REPO_DIR");
  return env ? env : INSEQ_REPO_DIR;
}
std::string shared_fixtures() {
  const char* env = std::getenv("INSEQ_SHARED_FIXTURES");
  return env ? env : INSEQ_SHARED_FIXTURES;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Failure("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

}  // namespace inseq::testing

int main(int argc, char** argv) {
  using namespace inseq::testing;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--device" && i + 1 < argc) {
      g_device = inseq::core::parse_device(argv[++i]);
    } else {
      filter = a;
    }
  }
  auto info = inseq::core::runtime_info();
  std::cout << "LibTorch " << info.torch_version << ", device " << g_device << ", threads " << info.threads << "\n";
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& t : registry()) {
    if (!filter.empty() && t.name.find(filter) == std::string::npos) continue;
    auto start = std::chrono::steady_clock::now();
    try {
      t.fn();
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      std::cout << "  ok   " << t.name << " (" << static_cast<int>(ms) << " ms)\n";
      ++passed;
    } catch (const Skip& s) {
      std::cout << "  skip " << t.name << ": " << s.what() << "\n";
      ++skipped;
    } catch (const std::exception& e) {
      std::cout << "  FAIL " << t.name << ": " << e.what() << "\n";
      ++failed;
    }
  }
  std::cout << passed << " passed, " << failed << " failed" << (skipped ? ", " + std::to_string(skipped) + " skipped" : "") << "\n";
  return failed == 0 ? 0 : 1;
}
