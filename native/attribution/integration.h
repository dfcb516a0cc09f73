// Captum's integration grids for integrated gradients, reproduced exactly: alphas in [0, 1] and weights.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace inseq::attribution {

// method: "gausslegendre" | "riemann_left" | "riemann_right" | "riemann_middle" | "riemann_trapezoid"
std::pair<std::vector<double>, std::vector<double>> integration_grid(const std::string& method, int64_t n_steps);

}  // namespace inseq::attribution
