// trainCausalLM(configJson, ids, lengths, options) -> Promise<{losses: Float32Array, numParameters}>;
// writes the trained weights as safetensors to options.outputPath.
#include <ATen/ATen.h>

#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/model_wrap.h"
#include "binding/promise_worker.h"
#include "core/json.h"
#include "models/safetensors.h"
#include "train/trainer.h"

namespace inseq::binding {

Napi::Value TrainCausalLM(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[3].IsObject()) {
    throw_type_error(env, "trainCausalLM(configJson, ids, lengths, options) expects a config string and an options object");
  }
  const std::string config_json = info[0].As<Napi::String>().Utf8Value();
  auto sequences = ragged_from_js(info[1], info[2], "training sequences");
  Napi::Object o = info[3].As<Napi::Object>();
  train::TrainOptions opts;
  opts.steps = get_int(o, "steps", 1000);
  opts.batch_size = get_int(o, "batchSize", 32);
  opts.learning_rate = get_number(o, "learningRate", 3e-3);
  opts.min_learning_rate = get_number(o, "minLearningRate", opts.learning_rate / 10);
  opts.warmup_steps = get_int(o, "warmupSteps", 50);
  opts.weight_decay = get_number(o, "weightDecay", 0.01);
  opts.grad_clip = get_number(o, "gradClip", 1.0);
  opts.seed = static_cast<uint64_t>(get_int(o, "seed", 0));
  opts.pad_token_id = get_int(o, "padTokenId", 0);
  const std::string output = get_string(o, "outputPath", "");
  if (output.empty()) throw_type_error(env, "Expected a file path for outputPath");
  auto cancel = CancelTokenWrap::from_options(o);
  auto progress = ProgressReporter::from_options(env, o);
  struct Out {
    std::vector<double> losses;
    int64_t num_parameters;
  };
  return PromiseWorker<Out>::Run(
      env,
      [config_json, sequences, opts, output, cancel, progress]() mutable {
        opts.config = models::parse_model_config(core::Json::parse(config_json), "training config");
        opts.sequences = sequences;
        opts.cancel = cancel.get();
        if (progress) opts.on_step = [progress](int64_t d, int64_t t, double loss) { progress->report(d, t, loss); };
        train::TrainResult r = train::train_causal_lm(opts);
        models::save_safetensors(output, r.parameters, {{"format", "pt"}});
        return Out{r.losses, r.num_parameters};
      },
      [](Napi::Env env, Out& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        Napi::Float32Array losses = Napi::Float32Array::New(env, r.losses.size());
        for (size_t i = 0; i < r.losses.size(); ++i) losses[i] = static_cast<float>(r.losses[i]);
        out.Set("losses", losses);
        out.Set("numParameters", static_cast<double>(r.num_parameters));
        return out;
      });
}

}  // namespace inseq::binding
