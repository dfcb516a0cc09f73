#include "binding/convert.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>

#include "binding/errors.h"

namespace inseq::binding {

namespace {
bool present(const Napi::Object& o, const char* key) {
  if (!o.Has(key)) return false;
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}
}  // namespace

std::string get_string(const Napi::Object& o, const char* key, const std::string& fallback) {
  if (!present(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw_type_error(o.Env(), std::string("Expected a string for ") + key);
  return v.As<Napi::String>().Utf8Value();
}

double get_number(const Napi::Object& o, const char* key, double fallback) {
  if (!present(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_type_error(o.Env(), std::string("Expected a number for ") + key);
  return v.As<Napi::Number>().DoubleValue();
}

int64_t get_int(const Napi::Object& o, const char* key, int64_t fallback) {
  double d = get_number(o, key, static_cast<double>(fallback));
  if (d != std::floor(d)) throw_type_error(o.Env(), std::string("Expected an integer for ") + key);
  return static_cast<int64_t>(d);
}

bool get_bool(const Napi::Object& o, const char* key, bool fallback) {
  if (!present(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throw_type_error(o.Env(), std::string("Expected a boolean for ") + key);
  return v.As<Napi::Boolean>().Value();
}

std::vector<int64_t> get_int_list(const Napi::Object& o, const char* key) {
  std::vector<int64_t> out;
  if (!present(o, key)) return out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw_type_error(o.Env(), std::string("Expected an array of integers for ") + key);
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) throw_type_error(o.Env(), std::string("Expected an array of integers for ") + key);
    out.push_back(x.As<Napi::Number>().Int64Value());
  }
  return out;
}

std::vector<std::vector<int64_t>> ragged_from_js(const Napi::Value& flat, const Napi::Value& lengths, const char* what) {
  Napi::Env env = flat.Env();
  if (!flat.IsTypedArray() || flat.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      !lengths.IsTypedArray() || lengths.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw_type_error(env, std::string("Expected Int32Array ids and lengths for ") + what);
  }
  Napi::Int32Array ids = flat.As<Napi::Int32Array>();
  Napi::Int32Array lens = lengths.As<Napi::Int32Array>();
  std::vector<std::vector<int64_t>> rows;
  size_t offset = 0;
  for (size_t i = 0; i < lens.ElementLength(); ++i) {
    const int32_t n = lens[i];
    if (n < 0 || offset + static_cast<size_t>(n) > ids.ElementLength()) {
      Napi::RangeError err = Napi::RangeError::New(env, std::string("Lengths do not match the ids for ") + what);
      err.Set("code", Napi::String::New(env, "ERR_INVALID_OPTION"));
      throw err;
    }
    rows.emplace_back(ids.Data() + offset, ids.Data() + offset + n);
    offset += static_cast<size_t>(n);
  }
  if (offset != ids.ElementLength()) {
    Napi::RangeError err = Napi::RangeError::New(env, std::string("Lengths do not sum to the number of ids for ") + what);
    err.Set("code", Napi::String::New(env, "ERR_INVALID_OPTION"));
    throw err;
  }
  return rows;
}

Napi::Object ragged_to_js(Napi::Env env, const std::vector<std::vector<int64_t>>& rows) {
  size_t total = 0;
  for (const auto& r : rows) total += r.size();
  Napi::Int32Array flat = Napi::Int32Array::New(env, total);
  Napi::Int32Array lengths = Napi::Int32Array::New(env, rows.size());
  size_t k = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    lengths[i] = static_cast<int32_t>(rows[i].size());
    for (int64_t v : rows[i]) flat[k++] = static_cast<int32_t>(v);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("ids", flat);
  out.Set("lengths", lengths);
  return out;
}

Napi::Object tensor_to_js(Napi::Env env, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
  Napi::Float32Array data = Napi::Float32Array::New(env, static_cast<size_t>(c.numel()));
  if (c.numel() > 0) std::memcpy(data.Data(), c.data_ptr<float>(), static_cast<size_t>(c.numel()) * sizeof(float));
  Napi::Array shape = Napi::Array::New(env, static_cast<size_t>(c.dim()));
  for (int64_t i = 0; i < c.dim(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(c.size(i))));
  Napi::Object out = Napi::Object::New(env);
  out.Set("shape", shape);
  out.Set("data", data);
  return out;
}

Napi::Array tensors_to_js(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) a.Set(static_cast<uint32_t>(i), tensor_to_js(env, ts[i]));
  return a;
}

Napi::Array ints_to_js(Napi::Env env, const std::vector<int64_t>& values) {
  Napi::Array a = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(values[i]));
  return a;
}

}  // namespace inseq::binding
