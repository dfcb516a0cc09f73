// Dispatch of native encoder-decoders on config.json's model_type: t5 -> T5LM, the BART family -> Seq2SeqLM.
#include "core/error.h"
#include "core/files.h"
#include "core/json.h"
#include "models/config.h"
#include "models/seq2seq.h"
#include "models/t5.h"

namespace inseq::models {

std::shared_ptr<EncoderDecoderLM> load_encoder_decoder_lm(const std::string& dir, c10::Device device, c10::ScalarType dtype,
                                                          const LoadProgress& progress) {
  if (!core::is_directory(dir)) throw core::Error(core::ErrorCode::kNotFound, "Model directory not found: " + dir);
  if (config_model_type(read_config_json(dir), core::join_path(dir, "config.json")) == "t5") return load_t5_lm(dir, device, dtype, progress);
  return load_seq2seq_lm(dir, device, dtype, progress);  // refuses what is not of the BART family
}

}  // namespace inseq::models
