#include "attribution/integration.h"

#include <cmath>

#include "core/error.h"

namespace inseq::attribution {

namespace {

// Gauss-Legendre nodes and weights on [-1, 1] (numpy.polynomial.legendre.leggauss), by Newton iteration on
// P_n from the Chebyshev-like initial guesses; converges to machine precision.
void leggauss(int64_t n, std::vector<double>& x, std::vector<double>& w) {
  x.assign(n, 0.0);
  w.assign(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double z = std::cos(M_PI * (static_cast<double>(i) + 0.75) / (static_cast<double>(n) + 0.5));
    double dp = 0;
    for (int iter = 0; iter < 100; ++iter) {
      double p0 = 1.0, p1 = z;
      for (int64_t k = 2; k <= n; ++k) {
        double p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / static_cast<double>(k);
        p0 = p1;
        p1 = p2;
      }
      const double pn = n == 1 ? z : p1;
      const double pn1 = n == 1 ? 1.0 : p0;
      dp = static_cast<double>(n) * (z * pn - pn1) / (z * z - 1.0);
      const double dz = pn / dp;
      z -= dz;
      if (std::fabs(dz) < 1e-16) break;
    }
    x[n - 1 - i] = z;  // ascending order, as numpy
    w[n - 1 - i] = 2.0 / ((1.0 - z * z) * dp * dp);
  }
}

}  // namespace

std::pair<std::vector<double>, std::vector<double>> integration_grid(const std::string& method, int64_t n) {
  if (n < 1) throw core::Error(core::ErrorCode::kInvalidOption, "Expected a positive integer for nSteps but received " + std::to_string(n));
  std::vector<double> alphas(n), weights(n);
  const double dn = static_cast<double>(n);
  if (method == "gausslegendre") {
    std::vector<double> x, w;
    leggauss(n, x, w);
    for (int64_t i = 0; i < n; ++i) {
      alphas[i] = 0.5 * (x[i] + 1.0);
      weights[i] = 0.5 * w[i];
    }
  } else if (method == "riemann_left" || method == "riemann_right" || method == "riemann_middle") {
    const double shift = method == "riemann_left" ? 0.0 : method == "riemann_right" ? 1.0 : 0.5;
    for (int64_t i = 0; i < n; ++i) {
      alphas[i] = (static_cast<double>(i) + shift) / dn;
      weights[i] = 1.0 / dn;
    }
  } else if (method == "riemann_trapezoid") {
    // Captum's exact grid: linspace(0, 1, n) with step sizes 1/n, the two ends halved (they sum to (n-1)/n,
    // not 1; kept for numeric parity with Captum and Inseq).
    if (n < 2) throw core::Error(core::ErrorCode::kInvalidOption, "riemann_trapezoid needs nSteps >= 2");
    for (int64_t i = 0; i < n; ++i) {
      alphas[i] = static_cast<double>(i) / (dn - 1.0);
      weights[i] = (i == 0 || i == n - 1) ? 0.5 / dn : 1.0 / dn;
    }
  } else {
    throw core::Error(core::ErrorCode::kInvalidOption,
                      "Expected one of gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid for method but received \"" + method + "\"");
  }
  return {alphas, weights};
}

}  // namespace inseq::attribution
