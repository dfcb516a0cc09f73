// A minimal test runner for the native core (runs without Node, e.g. on GPU hosts with only LibTorch).
#pragma once

#include <c10/core/Device.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace inseq::testing {

struct TestCase {
  std::string name;
  std::function<void()> fn;
};
std::vector<TestCase>& registry();
struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct Skip : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Options from the command line.
c10::Device test_device();
std::string repo_dir();
std::string shared_fixtures();
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace inseq::testing

#define INSEQ_CAT2(a, b) a##b
#define INSEQ_CAT(a, b) INSEQ_CAT2(a, b)
#define TEST(name)                                                                       \
  static void name();                                                                    \
  static ::inseq::testing::Registrar INSEQ_CAT(registrar_, name)(#name, name);           \
  static void name()

#define ASSERT_TRUE(cond)                                                                                         \
  do {                                                                                                      \
    if (!(cond)) {                                                                                          \
      std::ostringstream os_;                                                                               \
      os_ << __FILE__ << ":" << __LINE__ << ": ASSERT_TRUE(" #cond ") failed";                                     \
      throw ::inseq::testing::Failure(os_.str());                                                           \
    }                                                                                                       \
  } while (0)

#define ASSERT_EQ(a, b)                                                                                      \
  do {                                                                                                      \
    auto va_ = (a);                                                                                         \
    auto vb_ = (b);                                                                                         \
    if (!(va_ == vb_)) {                                                                                    \
      std::ostringstream os_;                                                                               \
      os_ << __FILE__ << ":" << __LINE__ << ": ASSERT_EQ(" #a ", " #b ") failed: " << va_ << " vs " << vb_;  \
      throw ::inseq::testing::Failure(os_.str());                                                           \
    }                                                                                                       \
  } while (0)

#define ASSERT_NEAR(a, b, tol)                                                                               \
  do {                                                                                                      \
    double va_ = (a), vb_ = (b);                                                                            \
    if (!(std::fabs(va_ - vb_) <= (tol))) {                                                                 \
      std::ostringstream os_;                                                                               \
      os_ << __FILE__ << ":" << __LINE__ << ": ASSERT_NEAR(" #a ", " #b ") failed: " << va_ << " vs " << vb_ \
          << " (tol " << (tol) << ")";                                                                      \
      throw ::inseq::testing::Failure(os_.str());                                                           \
    }                                                                                                       \
  } while (0)

// Expects `stmt` to throw inseq::core::Error with `code`, and the message to contain `needle`.
#define ASSERT_THROWS_CODE(stmt, expected_code, needle)                                                               \
  do {                                                                                                      \
    bool thrown_ = false;                                                                                   \
    try {                                                                                                   \
      stmt;                                                                                                 \
    } catch (const ::inseq::core::Error& e_) {                                                              \
      thrown_ = true;                                                                                       \
      if (e_.code() != (expected_code) || std::string(e_.what()).find(needle) == std::string::npos) {                \
        std::ostringstream os_;                                                                             \
        os_ << __FILE__ << ":" << __LINE__ << ": wrong error: " << e_.code_name() << ": " << e_.what();      \
        throw ::inseq::testing::Failure(os_.str());                                                         \
      }                                                                                                     \
    }                                                                                                       \
    if (!thrown_) {                                                                                         \
      std::ostringstream os_;                                                                               \
      os_ << __FILE__ << ":" << __LINE__ << ": expected " #stmt " to throw";                               \
      throw ::inseq::testing::Failure(os_.str());                                                           \
    }                                                                                                       \
  } while (0)
