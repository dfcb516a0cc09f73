// JS <-> C++ conversions done on the JS thread: option objects to plain structs, typed arrays to vectors
// and tensors, tensors back to Float32Array/Int32Array (copied: results are small next to the compute).
#pragma once

#include <napi.h>

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace inseq::binding {

// Option getters: a missing/undefined key gives the fallback; a wrong type throws a TypeError naming it.
std::string get_string(const Napi::Object& o, const char* key, const std::string& fallback);
double get_number(const Napi::Object& o, const char* key, double fallback);
int64_t get_int(const Napi::Object& o, const char* key, int64_t fallback);
bool get_bool(const Napi::Object& o, const char* key, bool fallback);
std::vector<int64_t> get_int_list(const Napi::Object& o, const char* key);

// Ragged int sequences travel as (flat Int32Array, lengths Int32Array).
std::vector<std::vector<int64_t>> ragged_from_js(const Napi::Value& flat, const Napi::Value& lengths, const char* what);
Napi::Object ragged_to_js(Napi::Env env, const std::vector<std::vector<int64_t>>& rows);

// A tensor as {shape: number[], data: Float32Array} (float32, contiguous, CPU copy).
Napi::Object tensor_to_js(Napi::Env env, const at::Tensor& t);
// A list of tensors (e.g. per layer) as an array of such objects.
Napi::Array tensors_to_js(Napi::Env env, const std::vector<at::Tensor>& ts);
// Integers (token ids) as a number[].
Napi::Array ints_to_js(Napi::Env env, const std::vector<int64_t>& values);

}  // namespace inseq::binding
