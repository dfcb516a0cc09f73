/**
 * Hugging Face tokenizer files for the bundled default model (a development tool: the corpus writer in
 * corpus.ts puts them next to the corpus; the package ships only their output, models/default/).
 *
 * Tokenizer design (verified with the `tokenizers` Node binding):
 * - model `WordLevel`: one id per word type; `<unk>`=0, `<s>`=1, `</s>`=2, `<pad>`=3, then the
 *   words in the order given (the grammar's sorted vocabulary);
 * - normalizer `Lowercase`, pre-tokenizer `WhitespaceSplit`: the corpus text already separates
 *   "." and "," by spaces, so splitting on whitespace yields exactly the grammar's words and the
 *   encoding's word ids are the indices into `GrammarExample.words`;
 * - post-processor `TemplateProcessing` with single "<s> $A" (pair "<s> $A <s> $B:1");
 * - decoder `null`: with no decoder, the Rust library joins the tokens with single spaces, so
 *   `decode(encode(text).ids, skipSpecialTokens=true) === text` for every corpus sentence.
 * - `clean_up_tokenization_spaces: false` in tokenizer_config.json: the Node binding never applies
 *   that clean-up, and in Python `transformers` it would turn " ." into "." and break the exact
 *   round trip; leaving it off keeps Python and Node decoding identical.
 */

import { invalidOption } from "../../lib/core/errors.js";
import { addedToken } from "../../lib/tokenizers/sentencepiece.js";

export const SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"] as const;
export const UNK_TOKEN = "<unk>";
export const BOS_TOKEN = "<s>";
export const EOS_TOKEN = "</s>";
export const PAD_TOKEN = "<pad>";

export interface TokenizerFiles {
  /** Contents of tokenizer.json. */
  tokenizerJson: object;
  /** Contents of tokenizer_config.json. */
  tokenizerConfig: object;
  /** Contents of special_tokens_map.json. */
  specialTokensMap: object;
}

function checkVocab(vocab: unknown): asserts vocab is string[] {
  if (!Array.isArray(vocab) || vocab.length === 0) throw invalidOption("vocab", "a non-empty array of words", vocab);
  const seen = new Set<string>();
  for (const w of vocab) {
    if (typeof w !== "string" || w.length === 0 || /\s/.test(w)) {
      throw invalidOption("vocab", "words without whitespace", w);
    }
    if (w !== w.toLowerCase()) throw invalidOption("vocab", "lowercase words (the normalizer lowercases input)", w);
    if ((SPECIAL_TOKENS as readonly string[]).includes(w)) throw invalidOption("vocab", "words other than the special tokens", w);
    if (seen.has(w)) throw invalidOption("vocab", "unique words", w);
    seen.add(w);
  }
}

/** Builds tokenizer.json, tokenizer_config.json and special_tokens_map.json for a word-level vocabulary. */
export function buildTokenizerFiles(vocab: string[]): TokenizerFiles {
  checkVocab(vocab);
  const ids: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (ids[t] = i));
  vocab.forEach((w, i) => (ids[w] = SPECIAL_TOKENS.length + i));

  const added = SPECIAL_TOKENS.map((content, id) => addedToken(id, content, true));

  const bosId = ids[BOS_TOKEN]!;
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: "Lowercase" },
    pre_tokenizer: { type: "WhitespaceSplit" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: BOS_TOKEN, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: BOS_TOKEN, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: BOS_TOKEN, type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { [BOS_TOKEN]: { id: BOS_TOKEN, ids: [bosId], tokens: [BOS_TOKEN] } },
    },
    decoder: null,
    model: { type: "WordLevel", vocab: ids, unk_token: UNK_TOKEN },
  };

  const addedTokensDecoder: Record<string, object> = {};
  for (const { id, content, lstrip, normalized, rstrip, single_word, special } of added) {
    addedTokensDecoder[String(id)] = { content, lstrip, normalized, rstrip, single_word, special };
  }
  const tokenizerConfig = {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: BOS_TOKEN,
    eos_token: EOS_TOKEN,
    unk_token: UNK_TOKEN,
    pad_token: PAD_TOKEN,
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    model_input_names: ["input_ids", "attention_mask"],
    added_tokens_decoder: addedTokensDecoder,
  };
  const specialTokensMap = {
    bos_token: BOS_TOKEN,
    eos_token: EOS_TOKEN,
    unk_token: UNK_TOKEN,
    pad_token: PAD_TOKEN,
  };
  return { tokenizerJson, tokenizerConfig, specialTokensMap };
}
