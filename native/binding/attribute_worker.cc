// model.attribute(request) -> Promise<result>: converts the request on the JS thread, runs the engine on a
// worker thread, returns Float32Arrays. Also the method / step-function listings and the method table.
#include <ATen/ATen.h>

#include "attribution/engine.h"
#include "attribution/method_table.h"
#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/model_wrap.h"
#include "binding/promise_worker.h"

namespace inseq::binding {

namespace {

std::vector<std::vector<int64_t>> ragged_field(const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsNull() || o.Get(key).IsUndefined()) return {};
  Napi::Value v = o.Get(key);
  if (!v.IsObject()) throw_type_error(o.Env(), std::string("Expected {ids, lengths} for ") + key);
  Napi::Object r = v.As<Napi::Object>();
  return ragged_from_js(r.Get("ids"), r.Get("lengths"), key);
}

attribution::StepFunctionArgs step_args(const Napi::Object& o, const char* key) {
  attribution::StepFunctionArgs a;
  if (!o.Has(key) || !o.Get(key).IsObject()) return a;
  Napi::Object s = o.Get(key).As<Napi::Object>();
  a.logprob = get_bool(s, "logprob", a.logprob);
  a.top_p = get_number(s, "topP", a.top_p);
  a.top_k = get_int(s, "topK", a.top_k);
  a.min_tokens_to_keep = get_int(s, "minTokensToKeep", a.min_tokens_to_keep);
  a.perplexity_base2 = get_bool(s, "perplexityBase2", a.perplexity_base2);
  a.n_mcd_steps = get_int(s, "nMcdSteps", a.n_mcd_steps);
  return a;
}

std::vector<std::string> string_list(const Napi::Object& o, const char* key) {
  std::vector<std::string> out;
  if (!o.Has(key) || !o.Get(key).IsArray()) return out;
  Napi::Array a = o.Get(key).As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    if (!a.Get(i).IsString()) throw_type_error(o.Env(), std::string("Expected strings in ") + key);
    out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  }
  return out;
}

// An optional Int32Array (reagent's POS groups: one entry per vocabulary id).
std::vector<int32_t> int32_field(const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsNull() || o.Get(key).IsUndefined()) return {};
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw_type_error(o.Env(), std::string("Expected an Int32Array for ") + key);
  }
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

}  // namespace

Napi::Value ModelWrap::Attribute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto model = checked_model(env);
  if (info.Length() < 1 || !info[0].IsObject()) throw_type_error(env, "attribute(request) expects a request object");
  return run_attribution(env, model, info[0].As<Napi::Object>(), info.This().As<Napi::Object>());
}

Napi::Value run_attribution(Napi::Env env, std::shared_ptr<models::CausalLM> model, const Napi::Object& o, Napi::Object self) {
  attribution::AttributionRequest r;
  r.method = get_string(o, "method", "saliency");
  r.sequences = ragged_field(o, "sequences");
  r.baselines = ragged_field(o, "baselines");
  r.attr_start = get_int_list(o, "attrStart");
  r.attr_end = get_int_list(o, "attrEnd");
  r.source_lengths = get_int_list(o, "sourceLengths");
  r.attributed_fn = get_string(o, "attributedFn", "probability");
  r.attributed_fn_args = step_args(o, "attributedFnArgs");
  r.step_scores = string_list(o, "stepScores");
  r.step_scores_args = step_args(o, "stepScoresArgs");
  if (o.Has("customStepFunctions") && o.Get("customStepFunctions").IsObject()) {
    Napi::Object c = o.Get("customStepFunctions").As<Napi::Object>();
    Napi::Array keys = c.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
      r.custom_step_functions[k] = get_string(c, k.c_str(), "");
    }
  }
  r.contrast_sequences = ragged_field(o, "contrastSequences");
  r.contrast_positions = ragged_field(o, "contrastPositions");
  r.contrast_source_lengths = get_int_list(o, "contrastSourceLengths");
  r.contrast_force_inputs = get_bool(o, "contrastForceInputs", false);
  r.n_steps = get_int(o, "nSteps", r.n_steps);
  r.integration = get_string(o, "integration", r.integration);
  r.internal_batch_size = get_int(o, "internalBatchSize", 0);
  r.return_convergence_delta = get_bool(o, "returnConvergenceDelta", false);
  r.n_samples = get_int(o, "nSamples", r.n_samples);
  r.stdevs = get_number(o, "stdevs", r.stdevs);
  r.mask_prob = get_number(o, "maskProb", r.mask_prob);
  r.seed = static_cast<uint64_t>(get_int(o, "seed", 0));
  r.dig_strategy = get_string(o, "digStrategy", r.dig_strategy);
  r.n_neighbors = get_int(o, "nNeighbors", r.n_neighbors);
  r.dig_cache_dir = get_string(o, "digCacheDir", r.dig_cache_dir);
  r.dig_save_cache = get_bool(o, "saveCache", r.dig_save_cache);
  r.dig_overwrite_cache = get_bool(o, "overwriteCache", r.dig_overwrite_cache);
  r.special_token_ids = get_int_list(o, "specialTokenIds");
  r.multiply_by_inputs = get_bool(o, "multiplyByInputs", true);
  r.latent_relevance = get_bool(o, "latentRelevance", false);
  r.layer = get_int(o, "layer", -1);
  r.keep_top_n = get_int(o, "keepTopN", r.keep_top_n);
  r.keep_ratio = get_number(o, "keepRatio", r.keep_ratio);
  r.invert_keep = get_bool(o, "invertKeep", r.invert_keep);
  r.stopping_top_k = get_int(o, "stoppingConditionTopK", r.stopping_top_k);
  r.replacing_ratio = get_number(o, "replacingRatio", r.replacing_ratio);
  r.max_probe_steps = get_int(o, "maxProbeSteps", r.max_probe_steps);
  r.num_probes = get_int(o, "numProbes", r.num_probes);
  r.pos_groups = int32_field(o, "posGroups");
  r.source_pos_groups = int32_field(o, "sourcePosGroups");
  r.attribute_target = get_bool(o, "attributeTarget", r.attribute_target);
  // Unset fields keep AttributionRequest's defaults (request.h declares them once).
  r.granular = get_bool(o, "granular", r.granular);
  r.normalize = get_bool(o, "normalize", r.normalize);
  r.normalize_target = get_bool(o, "normalizeTarget", r.normalize_target);
  r.return_step_logits = get_bool(o, "returnStepLogits", r.return_step_logits);
  r.similarity_metric = get_string(o, "similarityMetric", r.similarity_metric);
  r.decoder_zeroed_heads = ragged_field(o, "decoderZeroedHeads");
  r.encoder_zeroed_heads = ragged_field(o, "encoderZeroedHeads");
  r.cross_zeroed_heads = ragged_field(o, "crossZeroedHeads");
  // memoryBudget: bytes, or "auto" (TS checked it; it also refuses memoryBudget with memoryBudgetMb).
  if (o.Has("memoryBudget") && o.Get("memoryBudget").IsString()) {
    r.memory_budget_bytes = o.Get("memoryBudget").As<Napi::String>().Utf8Value() == "auto" ? attribution::AttributionRequest::kBudgetAuto : -2;
  } else {
    r.memory_budget_bytes = get_int(o, "memoryBudget", r.memory_budget_bytes);
  }
  r.memory_budget_mb = get_int(o, "memoryBudgetMb", r.memory_budget_mb);
  r.checkpointing = get_string(o, "gradientCheckpointing", r.checkpointing);
  r.per_step_schedule = get_string(o, "schedule", "batched") == "per_step";
  return run_cancellable<attribution::AttributionResult>(
      env, o, std::move(r), &attribution::AttributionRequest::on_progress,
      [model](const attribution::AttributionRequest& req) { return attribution::attribute(*model, req); },
      [](Napi::Env env, attribution::AttributionResult& res) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("kind", res.kind);
        Napi::Array dims = Napi::Array::New(env, res.extra_dims.size());
        for (size_t i = 0; i < res.extra_dims.size(); ++i) dims.Set(static_cast<uint32_t>(i), res.extra_dims[i]);
        out.Set("extraDims", dims);
        Napi::Array seqs = Napi::Array::New(env, res.sequences.size());
        for (size_t i = 0; i < res.sequences.size(); ++i) {
          const auto& s = res.sequences[i];
          Napi::Object so = Napi::Object::New(env);
          so.Set("attributions", s.attributions.defined() ? Napi::Value(tensor_to_js(env, s.attributions)) : env.Null());
          Napi::Object scores = Napi::Object::New(env);
          for (const auto& [name, t] : s.step_scores) scores.Set(name, tensor_to_js(env, t).Get("data"));
          so.Set("stepScores", scores);
          Napi::Object seq_scores = Napi::Object::New(env);
          for (const auto& [name, t] : s.sequence_scores) seq_scores.Set(name, tensor_to_js(env, t));
          so.Set("sequenceScores", seq_scores);
          if (s.step_logits.defined()) so.Set("stepLogits", tensor_to_js(env, s.step_logits));  // [steps, vocab]
          if (s.delta_scales.defined()) so.Set("deltaScales", tensor_to_js(env, s.delta_scales).Get("data"));  // [steps]
          seqs.Set(static_cast<uint32_t>(i), so);
        }
        out.Set("sequences", seqs);
        out.Set("hostPeakBytes", Napi::Number::New(env, static_cast<double>(res.host_peak_bytes)));
        return out;
      },
      self);
}

Napi::Value ListMethods(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& methods = attribution::list_methods();
  Napi::Array out = Napi::Array::New(env, methods.size());
  for (size_t i = 0; i < methods.size(); ++i) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("id", methods[i].id);
    m.Set("family", attribution::family_name(methods[i].family));
    m.Set("usesBaselines", methods[i].uses_baselines());
    m.Set("kind", methods[i].kind);
    m.Set("description", methods[i].description);
    m.Set("attributedFn", methods[i].attributed_fn);
    Napi::Object defaults = Napi::Object::New(env);
    for (const auto& [name, value] : methods[i].defaults) defaults.Set(name, value);
    m.Set("defaults", defaults);
    out.Set(static_cast<uint32_t>(i), m);
  }
  return out;
}

Napi::Value ListStepFunctions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& registry = attribution::step_function_registry();
  Napi::Array out = Napi::Array::New(env, registry.size());
  uint32_t i = 0;
  for (const auto& [id, fn] : registry) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("id", id);
    m.Set("contrastive", fn.contrastive);
    m.Set("spanAggregate", fn.span_aggregate);
    m.Set("description", fn.description);
    out.Set(i++, m);
  }
  return out;
}

namespace {

Napi::Array strings_to_js(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), v[i]);
  return a;
}

}  // namespace

// The native method table (attribution/method_table.h): what scripts/gen-method-table.mjs writes into
// lib/attribution/method-table.generated.ts.
Napi::Value MethodTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const auto& methods = attribution::list_methods();
  Napi::Array ms = Napi::Array::New(env, methods.size());
  for (size_t i = 0; i < methods.size(); ++i) {
    const auto& m = methods[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", m.id);
    o.Set("family", attribution::family_name(m.family));
    o.Set("kind", m.kind);
    o.Set("usesBaselines", m.uses_baselines());
    Napi::Object needs = Napi::Object::New(env);
    needs.Set("gradients", m.needs.gradients);
    needs.Set("blockInternals", m.needs.block_internals);
    needs.Set("baselines", m.needs.baselines);
    needs.Set("supportsContrast", m.needs.supports_contrast);
    o.Set("needs", needs);
    o.Set("options", strings_to_js(env, m.options));
    Napi::Object defaults = Napi::Object::New(env);
    for (const auto& [name, value] : m.defaults) defaults.Set(name, value);
    o.Set("defaults", defaults);
    o.Set("description", m.description);
    o.Set("attributedFn", m.attributed_fn);
    ms.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("methods", ms);
  const auto& fns = attribution::step_function_table();
  Napi::Array fs = Napi::Array::New(env, fns.size());
  for (size_t i = 0; i < fns.size(); ++i) {
    const auto& f = fns[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", f.id);
    o.Set("contrastive", f.contrastive);
    o.Set("needsDropout", f.needs_dropout);
    o.Set("spanAggregate", f.span_aggregate);
    o.Set("options", strings_to_js(env, f.options));
    o.Set("description", f.description);
    fs.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("stepFunctions", fs);
  const auto& args = attribution::step_args();
  Napi::Array as = Napi::Array::New(env, args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", args[i].name);
    o.Set("type", args[i].type);
    if (args[i].type == "boolean") o.Set("default", args[i].default_value != 0);
    else o.Set("default", args[i].default_value);
    o.Set("description", args[i].description);
    as.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("stepArgs", as);
  const auto& aliases = attribution::step_aliases();
  Napi::Array al = Napi::Array::New(env, aliases.size());
  for (size_t i = 0; i < aliases.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("alias", aliases[i].alias);
    o.Set("id", aliases[i].id);
    Napi::Object a = Napi::Object::New(env);
    for (const auto& [name, value] : aliases[i].args) a.Set(name, value);
    o.Set("args", a);
    al.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("stepAliases", al);
  out.Set("contrastOptions", strings_to_js(env, attribution::contrast_options()));
  return out;
}

}  // namespace inseq::binding
