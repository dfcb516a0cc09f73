// Runs every registered test: `inseq_core_tests [--device cpu|cuda] [filter]`.
#include <ATen/ATen.h>

#include <dlfcn.h>
#include <execinfo.h>
#include <ucontext.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "core/cuda_runtime.h"
#include "core/device.h"
#include "core/files.h"
#include "tests/test.h"

namespace inseq::testing {

namespace {
c10::Device g_device(c10::kCPU);
const char* g_current = "(startup)";

// A crash in native code still names the test and prints where it happened (the GPU check runs
// unattended, often without gdb): the faulting PC and the return address on top of the stack, with the
// shared object and symbol dladdr finds for each, then a backtrace.
void print_address(const char* label, void* addr) {
  Dl_info info{};
  std::fprintf(stderr, "%s %p", label, addr);
  if (addr && dladdr(addr, &info)) {
    std::fprintf(stderr, " in %s (%s+0x%lx)", info.dli_fname ? info.dli_fname : "?", info.dli_sname ? info.dli_sname : "?",
                 static_cast<unsigned long>(static_cast<char*>(addr) - static_cast<char*>(info.dli_saddr ? info.dli_saddr : info.dli_fbase)));
  }
  std::fprintf(stderr, "\n");
}

void on_fatal_signal(int sig, siginfo_t* si, void* ctx) {
  std::fprintf(stderr, "\nFATAL signal %d in test %s (fault address %p)\n", sig, g_current, si ? si->si_addr : nullptr);
#if defined(__x86_64__)
  auto* uc = static_cast<ucontext_t*>(ctx);
  void* pc = reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RIP]);
  void** sp = reinterpret_cast<void**>(uc->uc_mcontext.gregs[REG_RSP]);
  print_address("  pc ", pc);
  for (int i = 0; i < 4; ++i) print_address("  stack", sp[i]);
#endif
  void* frames[64];
  int n = backtrace(frames, 64);
  backtrace_symbols_fd(frames, n, 2);
  signal(sig, SIG_DFL);
  raise(sig);
}
}  // namespace

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
bool file_exists(const std::string& path) { return inseq::core::path_exists(path); }

}  // namespace inseq::testing

int main(int argc, char** argv) {
  using namespace inseq::testing;
  struct sigaction sa {};
  sa.sa_sigaction = on_fatal_signal;
  sa.sa_flags = SA_SIGINFO;
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGILL}) sigaction(sig, &sa, nullptr);
  std::cout << std::unitbuf;
  const auto& cuda = inseq::core::load_torch_cuda();  // before anything asks ATen about CUDA
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
  std::cout << "LibTorch " << info.torch_version << " (" << cuda.libtorch_dir << "), device " << g_device << ", threads "
            << info.threads << (info.cuda ? "" : ", CUDA unavailable: " + info.cuda_reason) << "\n";
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& t : registry()) {
    if (!filter.empty() && t.name.find(filter) == std::string::npos) continue;
    g_current = t.name.c_str();
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
