/**
 * The fuzz corpus: mutated inputs built from the tiny random checkpoints in test/fixtures (decoder-only llama /
 * gpt2 / mistral / qwen2, encoder-decoder marian / bart, their TorchScript bundles, a sharded llama). Every case is
 * labelled valid or invalid by construction: a mutation that keeps a value HF transformers accepts is valid and
 * must succeed; anything else must be rejected with a documented code (optionally a specific one, `expectCodes`,
 * where the README or issue 10 names it, and naming `mention`). Random parts (offsets, tensors, id positions,
 * base models) come from a seeded Prng, so a seed reproduces the corpus exactly.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

import { Prng } from "./prng.js";

export type Category = "safetensors" | "config" | "encdec-config" | "tokenizer" | "ids" | "options" | "bundle" | "sharded";

/** A file edit applied by run-case.mjs to a fresh copy of the base model (see applyMutation there). */
export type Mutation = Record<string, unknown> & { op: string; file: string };

export interface FuzzCase {
  id: string;
  category: Category;
  /** Model folder under test/fixtures. */
  base: string;
  mutations: Mutation[];
  /** What run-case.mjs does with the mutated folder (see runAction there). */
  action: Record<string, unknown> & { kind: string };
  invalid: boolean;
  /** Codes the rejection must carry, when one is prescribed. */
  expectCodes?: string[];
  /** The rejection message must contain one of these (a field or tensor name). */
  mention?: string[];
}

/** Markers for values JSON cannot hold; run-case.mjs revives them (and writes bare NaN into JSON files). */
const NAN = { $: "NaN" };
const INF = { $: "Infinity" };
const NEG_INF = { $: "-Infinity" };
const MISSING = { $: "undefined" };

const fixtures = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../fixtures");

const DECODERS = ["reference/llama", "reference/gpt2"];
const LLAMA_FAMILY = ["reference/llama", "reference/mistral", "reference/qwen2"];
const SEQ2SEQ = ["reference-seq2seq/marian", "reference-seq2seq/bart"];
const BUNDLES = ["torchscript/llama", "torchscript/gpt2", "torchscript/marian", "torchscript/bart"];
const WEIGHTS = [...DECODERS, ...SEQ2SEQ];

const BAD_CHECKPOINT = ["ERR_BAD_CHECKPOINT"];
const UNSUPPORTED = ["ERR_UNSUPPORTED_MODEL"];
const BAD_TOKENIZER = ["ERR_BAD_TOKENIZER"];
const INVALID_OPTION = ["ERR_INVALID_OPTION"];
const OPTION_CODES = ["ERR_INVALID_OPTION", "ERR_UNKNOWN_OPTION"];

const SMOKE = { kind: "smoke" };

interface Header {
  [name: string]: { dtype: string; shape: number[]; data_offsets: [number, number] };
}

function readHeader(file: string): Header {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as Header;
  delete header.__metadata__;
  return header;
}

const json = (file: string, keys: (string | number)[], value: unknown): Mutation => ({ op: "json", file, set: [[keys, value]] });
const cfg = (keys: (string | number)[], value: unknown): Mutation => json("config.json", keys, value);
const st = (edit: Record<string, unknown>): Mutation => ({ op: "safetensors", file: "model.safetensors", edit });
const vocabOf = (base: string): number => {
  const c = JSON.parse(readFileSync(path.join(fixtures, base, base.startsWith("torchscript") ? "inseq_bundle.json" : "config.json"), "utf8"));
  return c.vocab_size as number;
};
const short = (v: unknown): string => (typeof v === "object" && v !== null && "$" in v ? String((v as { $: string }).$) : JSON.stringify(v) ?? "undefined");

/** One generator of a case; called once per round with fresh random parameters. */
type Template = (rng: Prng) => Omit<FuzzCase, "id">;

function configTemplates(): Template[] {
  const t: Template[] = [];
  // [path, value, invalid, expectCodes?, mention?]
  type Row = [(string | number)[], unknown, boolean, string[]?, string[]?];
  const llama: Row[] = [
    [["num_hidden_layers"], 0, true, BAD_CHECKPOINT, ["num_hidden_layers"]],
    [["num_hidden_layers"], -1, true, BAD_CHECKPOINT, ["num_hidden_layers"]],
    [["num_hidden_layers"], 1, true, BAD_CHECKPOINT, ["num_hidden_layers", "layers.1"]],
    [["num_hidden_layers"], 3, true, BAD_CHECKPOINT, ["num_hidden_layers", "layers.2"]],
    [["num_hidden_layers"], "2", true, BAD_CHECKPOINT, ["num_hidden_layers"]],
    [["num_hidden_layers"], 2.5, true, BAD_CHECKPOINT, ["num_hidden_layers"]],
    [["num_hidden_layers"], MISSING, true, BAD_CHECKPOINT, ["num_hidden_layers"]],
    [["num_hidden_layers"], 2, false],
    [["num_attention_heads"], 3, true, BAD_CHECKPOINT],
    [["num_attention_heads"], 0, true, BAD_CHECKPOINT],
    [["num_attention_heads"], -4, true, BAD_CHECKPOINT],
    [["num_attention_heads"], "4", true, BAD_CHECKPOINT],
    [["num_key_value_heads"], 3, true, BAD_CHECKPOINT],
    [["num_key_value_heads"], 0, true, BAD_CHECKPOINT],
    [["hidden_size"], 33, true, BAD_CHECKPOINT],
    [["hidden_size"], 0, true, BAD_CHECKPOINT],
    [["intermediate_size"], 48, true, BAD_CHECKPOINT],
    [["intermediate_size"], -64, true, BAD_CHECKPOINT],
    [["vocab_size"], 299, true, BAD_CHECKPOINT],
    [["vocab_size"], 301, true, BAD_CHECKPOINT],
    [["vocab_size"], "300", true, BAD_CHECKPOINT],
    [["rope_parameters", "rope_theta"], 0, true, BAD_CHECKPOINT, ["rope_theta"]],
    [["rope_parameters", "rope_theta"], -10000, true, BAD_CHECKPOINT, ["rope_theta"]],
    [["rope_parameters", "rope_theta"], NAN, true, BAD_CHECKPOINT, ["rope_theta"]],
    [["rope_parameters", "rope_theta"], "1e4", true, BAD_CHECKPOINT, ["rope_theta"]],
    [["rope_parameters", "rope_theta"], 20000, false],
    [["rms_norm_eps"], -1e-6, true, BAD_CHECKPOINT, ["rms_norm_eps"]],
    [["rms_norm_eps"], NAN, true, BAD_CHECKPOINT, ["rms_norm_eps"]],
    [["rms_norm_eps"], INF, true, BAD_CHECKPOINT, ["rms_norm_eps"]],
    [["rms_norm_eps"], "1e-6", true, BAD_CHECKPOINT, ["rms_norm_eps"]],
    [["rms_norm_eps"], 1e-5, false],
    [["max_position_embeddings"], 1, true, BAD_CHECKPOINT, ["max_position_embeddings"]],
    [["max_position_embeddings"], 0, true, BAD_CHECKPOINT, ["max_position_embeddings"]],
    [["max_position_embeddings"], -5, true, BAD_CHECKPOINT, ["max_position_embeddings"]],
    [["max_position_embeddings"], 256, false],
    [["pad_token_id"], 300, true, BAD_CHECKPOINT, ["pad_token_id"]],
    [["pad_token_id"], 1e6, true, BAD_CHECKPOINT, ["pad_token_id"]],
    [["pad_token_id"], null, false],
    [["bos_token_id"], 300, true, BAD_CHECKPOINT, ["bos_token_id"]],
    [["bos_token_id"], 2 ** 32, true, BAD_CHECKPOINT, ["bos_token_id"]],
    [["bos_token_id"], null, false],
    [["eos_token_id"], 300, true, BAD_CHECKPOINT, ["eos_token_id"]],
    [["eos_token_id"], [0, 300], true, BAD_CHECKPOINT, ["eos_token_id"]],
    [["eos_token_id"], "0", true, BAD_CHECKPOINT, ["eos_token_id"]],
    [["eos_token_id"], [0, 5], false],
    [["model_type"], 123, true, BAD_CHECKPOINT, ["model_type"]],
    [["model_type"], null, true, BAD_CHECKPOINT, ["model_type"]],
    [["model_type"], ["llama"], true, BAD_CHECKPOINT, ["model_type"]],
    [["model_type"], {}, true, BAD_CHECKPOINT, ["model_type"]],
    [["model_type"], "llama-x", true, UNSUPPORTED, ["llama-x"]],
    [["hidden_act"], "nonsense", true, UNSUPPORTED, ["hidden_act"]],
    [["tie_word_embeddings"], "yes", true, BAD_CHECKPOINT, ["tie_word_embeddings"]],
    [["head_dim"], 7, true, BAD_CHECKPOINT],
    [["head_dim"], 0, true, BAD_CHECKPOINT],
    [["rope_parameters", "rope_type"], "nonsense", true, UNSUPPORTED, ["nonsense"]],
    [["fuzz_extra_field"], 1, false],
  ];
  for (const [keys, value, invalid, expectCodes, mention] of llama) {
    t.push((rng) => ({
      category: "config", base: rng.pick(LLAMA_FAMILY), mutations: [cfg(keys, value)], action: SMOKE, invalid, expectCodes, mention,
    }));
  }
  for (const factor of [0, -2, NAN]) {
    t.push((rng) => ({
      category: "config", base: rng.pick(LLAMA_FAMILY), action: SMOKE, invalid: true, expectCodes: BAD_CHECKPOINT, mention: ["factor"],
      mutations: [{ op: "json", file: "config.json", set: [[["rope_parameters", "rope_type"], "linear"], [["rope_parameters", "factor"], factor]] }],
    }));
  }
  const gpt2: Row[] = [
    [["n_layer"], 0, true, BAD_CHECKPOINT, ["n_layer"]],
    [["n_layer"], -1, true, BAD_CHECKPOINT, ["n_layer"]],
    [["n_layer"], 1, true, BAD_CHECKPOINT, ["n_layer", "h.1"]],
    [["n_layer"], 3, true, BAD_CHECKPOINT, ["n_layer", "h.2"]],
    [["n_head"], 3, true, BAD_CHECKPOINT, ["n_head"]],
    [["n_head"], 0, true, BAD_CHECKPOINT, ["n_head"]],
    [["n_head"], 8, false],
    [["n_embd"], 33, true, BAD_CHECKPOINT],
    [["layer_norm_epsilon"], -1e-5, true, BAD_CHECKPOINT, ["layer_norm_epsilon"]],
    [["layer_norm_epsilon"], NAN, true, BAD_CHECKPOINT, ["layer_norm_epsilon"]],
    [["layer_norm_epsilon"], 1e-6, false],
    [["n_positions"], 1, true, BAD_CHECKPOINT, ["n_positions", "max_position_embeddings"]],
    [["n_positions"], 0, true, BAD_CHECKPOINT, ["n_positions", "max_position_embeddings"]],
    [["n_positions"], 256, true, BAD_CHECKPOINT],
    [["activation_function"], "nonsense", true, UNSUPPORTED, ["activation_function"]],
    [["bos_token_id"], 300, true, BAD_CHECKPOINT, ["bos_token_id"]],
    [["eos_token_id"], 300, true, BAD_CHECKPOINT, ["eos_token_id"]],
    [["pad_token_id"], 300, true, BAD_CHECKPOINT, ["pad_token_id"]],
    [["n_inner"], 48, true, BAD_CHECKPOINT],
    [["vocab_size"], 301, true, BAD_CHECKPOINT],
    [["model_type"], 123, true, BAD_CHECKPOINT, ["model_type"]],
    [["scale_attn_weights"], "no", true, BAD_CHECKPOINT, ["scale_attn_weights"]],
  ];
  for (const [keys, value, invalid, expectCodes, mention] of gpt2) {
    t.push(() => ({ category: "config", base: "reference/gpt2", mutations: [cfg(keys, value)], action: SMOKE, invalid, expectCodes, mention }));
  }
  for (const text of ["[]", "null", "42", "{\"model_type\": \"llama\""]) {
    t.push((rng) => ({
      category: "config", base: rng.pick(DECODERS), mutations: [{ op: "text", file: "config.json", text }], action: SMOKE, invalid: true,
      expectCodes: BAD_CHECKPOINT, mention: ["config.json"],
    }));
  }
  return t;
}

function encdecTemplates(): Template[] {
  const t: Template[] = [];
  type Row = [(string | number)[], unknown, boolean, string[]?, string[]?, string[]?];
  const rows: Row[] = [
    [["encoder_layers"], 0, true, BAD_CHECKPOINT, ["encoder_layers"]],
    [["encoder_layers"], -1, true, BAD_CHECKPOINT, ["encoder_layers"]],
    [["encoder_layers"], 1, true, BAD_CHECKPOINT, ["encoder_layers", "encoder.layers.1"]],
    [["encoder_layers"], 3, true, BAD_CHECKPOINT, ["encoder_layers", "encoder.layers.2"]],
    [["encoder_layers"], "2", true, BAD_CHECKPOINT, ["encoder_layers"]],
    [["decoder_layers"], 0, true, BAD_CHECKPOINT, ["decoder_layers"]],
    [["decoder_layers"], 1, true, BAD_CHECKPOINT, ["decoder_layers", "decoder.layers.1"]],
    [["decoder_layers"], 3, true, BAD_CHECKPOINT, ["decoder_layers", "decoder.layers.2"]],
    [["d_model"], 33, true, BAD_CHECKPOINT],
    [["encoder_attention_heads"], 3, true, BAD_CHECKPOINT, ["encoder_attention_heads"]],
    [["encoder_attention_heads"], 0, true, BAD_CHECKPOINT, ["encoder_attention_heads"]],
    [["encoder_attention_heads"], 8, false],
    [["decoder_attention_heads"], 3, true, BAD_CHECKPOINT, ["decoder_attention_heads"]],
    [["encoder_ffn_dim"], 48, true, BAD_CHECKPOINT],
    [["vocab_size"], 161, true, BAD_CHECKPOINT],
    [["max_position_embeddings"], 1, true, BAD_CHECKPOINT, ["max_position_embeddings"]],
    [["max_position_embeddings"], 0, true, BAD_CHECKPOINT, ["max_position_embeddings"]],
    [["max_position_embeddings"], 128, false, undefined, undefined, ["reference-seq2seq/marian"]], // sinusoidal: no table
    [["max_position_embeddings"], 128, true, BAD_CHECKPOINT, undefined, ["reference-seq2seq/bart"]], // learned table of 64 + 2
    [["pad_token_id"], 160, true, BAD_CHECKPOINT, ["pad_token_id"]],
    [["eos_token_id"], 160, true, BAD_CHECKPOINT, ["eos_token_id"]],
    [["bos_token_id"], 160, true, BAD_CHECKPOINT, ["bos_token_id"]],
    [["decoder_start_token_id"], 160, true, BAD_CHECKPOINT, ["decoder_start_token_id"]],
    [["decoder_start_token_id"], 1e6, true, BAD_CHECKPOINT, ["decoder_start_token_id"]],
    [["scale_embedding"], "yes", true, BAD_CHECKPOINT, ["scale_embedding"]],
    [["activation_function"], "nonsense", true, UNSUPPORTED, ["activation_function"]],
    [["model_type"], 5, true, BAD_CHECKPOINT, ["model_type"]],
    [["fuzz_extra_field"], [1, 2], false],
    [["eos_token_id"], [2], false],
  ];
  for (const [keys, value, invalid, expectCodes, mention, bases] of rows) {
    t.push((rng) => ({
      category: "encdec-config", base: rng.pick(bases ?? SEQ2SEQ), mutations: [cfg(keys, value)], action: SMOKE, invalid, expectCodes, mention,
    }));
  }
  return t;
}

function safetensorsTemplates(): Template[] {
  const t: Template[] = [];
  const headers = new Map(WEIGHTS.map((b) => [b, readHeader(path.join(fixtures, b, "model.safetensors"))]));
  const sizes = new Map(WEIGHTS.map((b) => [b, statSync(path.join(fixtures, b, "model.safetensors")).size]));
  const tensorOf = (rng: Prng, base: string, filter: (n: string) => boolean = () => true) =>
    rng.pick(Object.keys(headers.get(base)!).filter(filter).sort());
  const invalidSt = (edit: (rng: Prng, base: string) => Record<string, unknown>): Template => (rng) => {
    const base = rng.pick(WEIGHTS);
    return { category: "safetensors", base, mutations: [st(edit(rng, base))], action: SMOKE, invalid: true, expectCodes: BAD_CHECKPOINT };
  };
  for (let i = 0; i < 6; i++) {
    t.push((rng) => {
      const base = rng.pick(WEIGHTS);
      const keep = rng.int(1, sizes.get(base)!);
      return {
        category: "safetensors", base, mutations: [{ op: "truncate", file: "model.safetensors", keep }], action: SMOKE, invalid: true,
        expectCodes: BAD_CHECKPOINT, mention: ["model.safetensors"],
      };
    });
  }
  t.push(invalidSt(() => ({ headerLength: 0 })));
  t.push(invalidSt(() => ({ headerLength: 2 ** 40 })));
  t.push(invalidSt((_r, base) => ({ headerLength: sizes.get(base)! + 100 })));
  t.push(invalidSt(() => ({ headerLength: "-1" })));
  t.push(invalidSt(() => ({ headerJson: "[]" })));
  t.push(invalidSt(() => ({ headerJson: "{}" })));
  for (const dtype of ["F16", "F64", "I8", "XYZ", 7, null]) {
    t.push(invalidSt((rng, base) => ({ tensor: tensorOf(rng, base), set: { dtype } })));
  }
  const shapes: ((s: number[]) => unknown)[] = [
    (s) => [s[0]! + 1, ...s.slice(1)], (s) => [...s, 1], (s) => [-1, ...s.slice(1)], (s) => s.map(String), (s) => String(s[0]), () => [],
  ];
  for (const f of shapes) {
    t.push(invalidSt((rng, base) => {
      const name = tensorOf(rng, base);
      return { tensor: name, set: { shape: f(headers.get(base)![name]!.shape) } };
    }));
  }
  const offsets: ((o: [number, number], total: number) => unknown)[] = [
    ([b, e]) => [e, b], ([b, e]) => [b, e + 4], ([b], total) => [b, total * 2], ([, e]) => [-4, e], ([b]) => [b], ([, e]) => ["0", e],
    ([b, e]) => [b + 4, e + 4],
  ];
  for (const f of offsets) {
    t.push(invalidSt((rng, base) => {
      const name = tensorOf(rng, base);
      const h = headers.get(base)!;
      const total = Math.max(...Object.values(h).map((x) => x.data_offsets[1]));
      return { tensor: name, set: { data_offsets: f(h[name]!.data_offsets, total) } };
    }));
  }
  // A missing tensor (final_logits_bias is optional in transformers: zeros).
  t.push(invalidSt((rng, base) => ({ tensor: tensorOf(rng, base, (n) => n !== "final_logits_bias"), remove: true })));
  // An extra layer beyond the config's count: issue 10 item 2, unused tensors of a known family are refused.
  t.push((rng) => {
    const base = rng.pick(WEIGHTS);
    const like = tensorOf(rng, base, (n) => /(layers|\.h)\.0\./.test(n));
    const add = like.replace(/(layers|\.h)\.0\./, "$1.2.");
    return { category: "safetensors", base, mutations: [st({ add, like })], action: SMOKE, invalid: true, expectCodes: BAD_CHECKPOINT, mention: [add] };
  });
  const valid: ((rng: Prng) => Record<string, unknown>)[] = [
    () => ({ metadata: { format: "pt", fuzz: "x" } }),
    () => ({ metadata: MISSING }),
    (rng) => ({ pad: rng.int(1, 64) }), // the format allows trailing spaces in the header
    () => ({ reorder: true }),
  ];
  for (const edit of valid) t.push((rng) => ({ category: "safetensors", base: rng.pick(WEIGHTS), mutations: [st(edit(rng))], action: SMOKE, invalid: false }));
  return t;
}

function tokenizerTemplates(): Template[] {
  const t: Template[] = [];
  const bases = [...DECODERS, ...SEQ2SEQ];
  const tok = (m: Omit<Mutation, "file"> & { file?: string }, invalid: boolean, expectCodes?: string[], action: FuzzCase["action"] = SMOKE): Template => (rng) => ({
    category: "tokenizer", base: rng.pick(bases), mutations: [{ file: "tokenizer.json", ...m } as Mutation], action, invalid, expectCodes,
  });
  t.push(tok({ op: "append", text: "}}}" }, true, BAD_TOKENIZER));
  t.push(tok({ op: "truncate", keep: 0.5 }, true, BAD_TOKENIZER));
  t.push(tok({ op: "text", text: "[]" }, true, BAD_TOKENIZER));
  t.push(tok({ op: "text", text: "null" }, true, BAD_TOKENIZER));
  t.push(tok({ op: "json", set: [[["model", "type"], "Nope"]] }, true, BAD_TOKENIZER));
  t.push(tok({ op: "json", set: [[["model", "vocab"], 7]] }, true, BAD_TOKENIZER));
  t.push(tok({ op: "json", set: [[["model", "merges"], 5]] }, true, BAD_TOKENIZER));
  t.push(tok({ op: "json", set: [[["pre_tokenizer", "type"], "Nope"]] }, true, BAD_TOKENIZER));
  t.push(tok({ op: "json", set: [[["added_tokens"], "x"]] }, true, BAD_TOKENIZER));
  t.push(tok({ op: "rm" }, true, ["ERR_NOT_FOUND"]));
  // A tokenizer id the model does not have: encoding "<fuzz>" gives vocab + 50.
  t.push((rng) => {
    const base = rng.pick(bases);
    const tj = JSON.parse(readFileSync(path.join(fixtures, base, "tokenizer.json"), "utf8"));
    const added = { id: vocabOf(base) + 50, content: "<fuzz>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: false };
    return {
      category: "tokenizer", base, invalid: true, mutations: [json("tokenizer.json", ["added_tokens", tj.added_tokens.length], added)],
      action: { kind: "generate", texts: "hello <fuzz> world", options: { maxNewTokens: 1 } },
    };
  });
  const tc = (m: Omit<Mutation, "file">, invalid: boolean, expectCodes?: string[]): Template => (rng) => ({
    category: "tokenizer", base: rng.pick(bases), mutations: [{ file: "tokenizer_config.json", ...m } as Mutation], action: SMOKE, invalid, expectCodes,
  });
  t.push(tc({ op: "append", text: "}" }, true, BAD_TOKENIZER));
  t.push(tc({ op: "text", text: "[]" }, true, BAD_TOKENIZER));
  t.push(tc({ op: "json", set: [[["add_bos_token"], "yes"]] }, true, BAD_TOKENIZER));
  t.push(tc({ op: "json", set: [[["model_max_length"], -5]] }, true, BAD_TOKENIZER));
  t.push(tc({ op: "json", set: [[["bos_token"], 5]] }, true, BAD_TOKENIZER));
  t.push(tc({ op: "json", set: [[["eos_token"], { content: 5 }]] }, true, BAD_TOKENIZER));
  t.push(tc({ op: "json", set: [[["fuzz_extra_field"], true]] }, false));
  t.push(tc({ op: "json", set: [[["model_max_length"], 512]] }, false));
  t.push(tc({ op: "rm" }, false));
  return t;
}

/** A random id matrix (1-3 rows of 1-6 valid ids) with `bad` at a random cell. */
function idsWith(rng: Prng, vocab: number, bad: unknown): unknown[][] {
  const rows = Array.from({ length: rng.int(1, 4) }, () => Array.from({ length: rng.int(1, 7) }, () => rng.int(0, vocab) as unknown));
  const r = rng.int(0, rows.length);
  rows[r]![rng.int(0, rows[r]!.length)] = bad;
  return rows;
}

function idsTemplates(): Template[] {
  const t: Template[] = [];
  // Values that are not a safe integer in [0, vocab): issue 10 item 1.
  const bad: ((vocab: number) => unknown)[] = [
    () => NAN, () => null, () => INF, () => NEG_INF, () => 2 ** 53, () => 2 ** 32 + 5, () => 2 ** 31, () => 1.9, () => -0.5, () => "7",
    () => true, () => -1, (v) => v, (v) => v + 1, () => [], () => ({}),
  ];
  for (const f of bad) {
    t.push((rng) => {
      const base = rng.pick(DECODERS);
      const vocab = vocabOf(base);
      return { category: "ids", base, mutations: [], action: { kind: "forward", ids: idsWith(rng, vocab, f(vocab)) }, invalid: true, expectCodes: INVALID_OPTION };
    });
    t.push((rng) => {
      const base = rng.pick(SEQ2SEQ);
      const vocab = vocabOf(base);
      const sources = idsWith(rng, vocab, rng.int(0, vocab));
      const targets = sources.map(() => Array.from({ length: rng.int(1, 5) }, () => rng.int(0, vocab) as unknown));
      const side = rng.pick([sources, targets]);
      const r = rng.int(0, side.length);
      side[r]![rng.int(0, side[r]!.length)] = f(vocab);
      return { category: "ids", base, mutations: [], action: { kind: "forward", sources, targets }, invalid: true, expectCodes: INVALID_OPTION };
    });
  }
  // model.decode (decoder-only models; Seq2SeqModel has none).
  for (const f of [() => NAN, () => 1.9, () => -1, (v: number) => v + 7, () => "7", () => 2 ** 32 + 5]) {
    t.push((rng) => {
      const base = rng.pick(DECODERS);
      const vocab = vocabOf(base);
      const ids: unknown[] = Array.from({ length: rng.int(1, 7) }, () => rng.int(0, vocab));
      ids[rng.int(0, ids.length)] = f(vocab);
      return { category: "ids", base, mutations: [], action: { kind: "decode", ids }, invalid: true, expectCodes: INVALID_OPTION };
    });
  }
  for (const v of [() => NAN, () => 2 ** 32 + 5]) {
    t.push(() => ({
      category: "ids", base: "reference/llama", mutations: [], invalid: true, expectCodes: INVALID_OPTION,
      action: { kind: "attribute", texts: "hello world", options: { generatedTexts: "hello world again", baselineIds: [[0, v(), 0, 0, 0]] } },
    }));
  }
  for (const ids of [[], [[]], [1, 2, 3], "abc", [[1, 2], "x"]]) {
    t.push((rng) => ({ category: "ids", base: rng.pick(DECODERS), mutations: [], action: { kind: "forward", ids }, invalid: true, expectCodes: INVALID_OPTION }));
  }
  t.push((rng) => ({
    category: "ids", base: rng.pick(SEQ2SEQ), mutations: [], action: { kind: "forward", sources: [[4, 5], [6]], targets: [[0, 7]] }, invalid: true,
    expectCodes: INVALID_OPTION,
  }));
  // Valid: ragged rows of valid ids, the edge ids 0 and vocab - 1.
  for (let i = 0; i < 3; i++) {
    t.push((rng) => {
      const base = rng.pick(DECODERS);
      const vocab = vocabOf(base);
      return { category: "ids", base, mutations: [], action: { kind: "forward", ids: idsWith(rng, vocab, rng.pick([0, vocab - 1])) }, invalid: false };
    });
    t.push((rng) => {
      const base = rng.pick(SEQ2SEQ);
      const vocab = vocabOf(base);
      const sources = idsWith(rng, vocab, vocab - 1);
      return { category: "ids", base, mutations: [], action: { kind: "forward", sources, targets: sources.map(() => [0, vocab - 1]) }, invalid: false };
    });
  }
  return t;
}

function optionsTemplates(): Template[] {
  const t: Template[] = [];
  const longText = Array.from({ length: 200 }, (_, i) => (i % 2 ? "world" : "hello")).join(" ");
  const gen = (options: unknown, invalid: boolean, expectCodes?: string[], texts: unknown = "hello world", bases = DECODERS): Template => (rng) => ({
    category: "options", base: rng.pick(bases), mutations: [], action: { kind: "generate", texts, options }, invalid, expectCodes,
  });
  const badGenerate: Record<string, unknown>[] = [
    { maxNewTokens: -1 }, { maxNewTokens: 1.5 }, { maxNewTokens: "3" }, { maxNewTokens: NAN }, { maxNewTokens: INF },
    { doSample: true, temperature: 0 }, { temperature: -1 }, { temperature: NAN }, { temperature: "1" },
    { topK: -1 }, { topK: 1.5 }, { topP: 0 }, { topP: 1.5 }, { topP: NAN }, { seed: -1 }, { seed: 1.5 }, { seed: "7" },
    { doSample: "yes" }, { doSample: 1 }, { skipSpecialTokens: "no" }, { returnIds: "yes" }, { outputGeneratedOnly: 1 },
    { onProgress: 5 }, { signal: "x" },
  ];
  for (const o of badGenerate) t.push(gen({ maxNewTokens: 2, ...o }, true, INVALID_OPTION));
  t.push(gen({ maxNewToken: 2 }, true, ["ERR_UNKNOWN_OPTION"]));
  t.push(gen("fast", true, OPTION_CODES));
  for (const texts of [5, [5], null, [["hello"]]]) t.push(gen({ maxNewTokens: 2 }, true, INVALID_OPTION, texts));
  // Beyond the context (128 positions; marian / bart 64): issue 10 item 3.
  t.push(gen({ maxNewTokens: 500 }, true, undefined, "hello world", [...DECODERS, "torchscript/llama", "torchscript/gpt2"]));
  t.push(gen({ maxNewTokens: 2 }, true, undefined, longText, [...DECODERS, "torchscript/llama"]));
  t.push(gen({ maxNewTokens: 300 }, true, undefined, "hello world", SEQ2SEQ));
  t.push(gen({ maxNewTokens: 2 }, true, undefined, longText, SEQ2SEQ));
  // Seq2seq generate options.
  for (const o of [{ maxNewTokens: -1 }, { topP: 2 }, { fuzzOption: 1 }, { outputGeneratedOnly: true }]) {
    t.push(gen(o, true, OPTION_CODES, "hello world", SEQ2SEQ));
  }
  const goodGenerate: Record<string, unknown>[] = [
    { maxNewTokens: 0 }, { maxNewTokens: 3, doSample: true, temperature: 0.7, topK: 5, topP: 0.9, seed: 3 },
    { maxNewTokens: 2, returnIds: true, outputGeneratedOnly: true }, { maxNewTokens: 2, skipSpecialTokens: false }, { maxNewTokens: 100 },
  ];
  for (const o of goodGenerate) t.push(gen(o, false));
  t.push(gen({ maxNewTokens: 3, doSample: true, seed: 1 }, false, undefined, ["hello", "hello world again"], SEQ2SEQ));

  const attr = (options: Record<string, unknown>, invalid: boolean, expectCodes?: string[], texts: unknown = "hello world", bases = DECODERS): Template => (rng) => ({
    category: "options", base: rng.pick(bases), mutations: [], invalid, expectCodes,
    action: { kind: "attribute", texts, options: { generationArgs: { maxNewTokens: 2 }, ...options } },
  });
  const badAttribute: Record<string, unknown>[] = [
    { method: "nope" }, { method: 5 },
    { method: "integrated_gradients", methodArgs: { nSteps: 0 } }, { method: "integrated_gradients", methodArgs: { nSteps: -1 } },
    { method: "integrated_gradients", methodArgs: { nSteps: 1.5 } }, { method: "integrated_gradients", methodArgs: { nSteps: "5" } },
    { method: "lime", methodArgs: { nSamples: 0 } }, { method: "gradient_shap", methodArgs: { nSamples: -1 } },
    { attrPosStart: 1.5 }, { attrPosStart: 999 }, { attrPosEnd: "x" }, { stepScores: ["nope"] }, { stepScores: "probability" },
    { attributedFn: "nope" }, { batchSize: 0 }, { batchSize: -1 }, { batchSize: 1.5 }, { memoryBudgetMb: 0 }, { memoryBudgetMb: -1 },
    { memoryBudgetMb: NAN }, { schedule: "nope" }, { granular: "yes" }, { generationArgs: { maxNewTokens: -1 } },
    { includeEosBaseline: "yes" }, { outputStepAttributions: 1 }, { skipSpecialTokens: "no" }, { generatedTexts: 5 },
    { contrastTargets: ["hello world a", "hello world b"] }, { contrastForceInputs: "yes" },
  ];
  for (const o of badAttribute) t.push(attr(o, true, INVALID_OPTION));
  t.push(attr({ method: "integrated_gradients", methodArgs: { bogus: 1 } }, true, OPTION_CODES));
  t.push(attr({ generationArgs: { bogus: 1 } }, true, OPTION_CODES));
  t.push(attr({ fuzzOption: 1 }, true, ["ERR_UNKNOWN_OPTION"]));
  t.push(attr({}, true, INVALID_OPTION, 5));
  for (const o of [{ method: "nope" }, { attributeTarget: "yes" }, { method: "saliency", fuzzOption: 1 }]) t.push(attr(o, true, OPTION_CODES, "hello world", SEQ2SEQ));
  const goodAttribute: Record<string, unknown>[] = [
    { method: "saliency" }, { method: "integrated_gradients", methodArgs: { nSteps: 4 } }, { method: "attention" }, { method: "occlusion" },
    { method: "lime", methodArgs: { nSamples: 20 } }, { method: "input_x_gradient", stepScores: ["probability", "entropy"] },
    { method: "saliency", generatedTexts: "hello world again" },
  ];
  for (const o of goodAttribute) t.push(attr(o, false));
  for (const o of [{ method: "saliency" }, { method: "saliency", attributeTarget: true }]) t.push(attr(o, false, undefined, "hello world", SEQ2SEQ));

  const load = (loadOptions: Record<string, unknown>, invalid: boolean, expectCodes?: string[], bases = DECODERS): Template => (rng) => ({
    category: "options", base: rng.pick(bases), mutations: [], action: { kind: "smoke", loadOptions }, invalid, expectCodes,
  });
  for (const o of [{ device: "tpu" }, { dtype: "int8" }, { kind: "nope" }, { method: "nope" }, { offline: "yes" }]) t.push(load(o, true, INVALID_OPTION));
  t.push(load({ devise: "cpu" }, true, ["ERR_UNKNOWN_OPTION"]));
  t.push(load({ kind: "encoder-decoder" }, true, UNSUPPORTED));
  t.push(load({ kind: "decoder-only" }, true, UNSUPPORTED, SEQ2SEQ));
  for (const o of [{ kind: "decoder-only" }, { method: "saliency" }, { dtype: "float32" }]) t.push(load(o, false));
  return t;
}

function bundleTemplates(): Template[] {
  const t: Template[] = [];
  const sizes = new Map(BUNDLES.map((b) => [b, statSync(path.join(fixtures, b, "model.torchscript")).size]));
  const bundle = (mutation: (rng: Prng, base: string) => Mutation, invalid: boolean, expectCodes?: string[], action: FuzzCase["action"] = SMOKE): Template => (rng) => {
    const base = rng.pick(BUNDLES);
    return { category: "bundle", base, mutations: [mutation(rng, base)], action, invalid, expectCodes };
  };
  const BUNDLE_CODES = ["ERR_BAD_MODEL", "ERR_BAD_CHECKPOINT"];
  for (let i = 0; i < 4; i++) {
    t.push(bundle((rng, base) => ({ op: "truncate", file: "model.torchscript", keep: rng.int(1, sizes.get(base)!) }), true, BUNDLE_CODES));
  }
  t.push(bundle(() => ({ op: "truncate", file: "model.torchscript", keep: -1 }), true, BUNDLE_CODES));
  // Truncated tensor storage in a well-formed archive: issue 10 item 4.
  for (let i = 0; i < 4; i++) {
    t.push(bundle((rng) => ({ op: "zip", file: "model.torchscript", edit: { entry: `/data/${rng.int(0, 12)}$`, shrinkBy: 4 * rng.int(1, 32) } }), true, BUNDLE_CODES));
  }
  // A flipped byte under a stale CRC-32.
  t.push(bundle((rng) => ({ op: "zip", file: "model.torchscript", edit: { entry: `/data/${rng.int(0, 12)}$`, flipAt: rng.int(0, 1 << 20) } }), true, BUNDLE_CODES));
  // Corrupt TorchScript code (issue 10 item 12: ERR_NATIVE today) and a corrupt pickle.
  t.push(bundle(() => ({ op: "zip", file: "model.torchscript", edit: { entry: "\\.py$", replace: "def broken(:\n" } }), true, BUNDLE_CODES));
  t.push(bundle(() => ({ op: "zip", file: "model.torchscript", edit: { entry: "/data\\.pkl$", replace: "\u0080\u0002garbage", fill: 0 } }), true, BUNDLE_CODES));
  const side = (set: [(string | number)[], unknown][]): Mutation => ({ op: "json", file: "inseq_bundle.json", set });
  const sidecar: [(b: string) => [(string | number)[], unknown][], boolean, string[]?][] = [
    [(b) => [[["vocab_size"], vocabOf(b) + 1]], true, ["ERR_BAD_MODEL"]],
    [() => [[["num_layers"], 3]], true, ["ERR_BAD_MODEL"]],
    [() => [[["hidden_size"], 33]], true, ["ERR_BAD_MODEL"]],
    [() => [[["eos_token_id"], 999]], true, ["ERR_BAD_MODEL"]],
    [() => [[["bos_token_id"], -5]], true, ["ERR_BAD_MODEL"]],
    [() => [[["pad_token_id"], 999]], true, ["ERR_BAD_MODEL"]],
    [() => [[["format"], "x"]], true, ["ERR_BAD_MODEL"]],
    [() => [[["format_version"], 2]], true, ["ERR_BAD_MODEL"]],
    [() => [[["model_kind"], "nope"]], true, ["ERR_BAD_MODEL"]],
    [() => [[["max_positions"], 0]], true, ["ERR_BAD_MODEL"]],
    [() => [[["vocab_size"], "300"]], true, ["ERR_BAD_MODEL"]],
    [() => [[["fuzz_extra_field"], 1]], false],
    [() => [[["bos_token_id"], null]], false],
    [() => [[["source"], "elsewhere"]], false],
  ];
  for (const [set, invalid, codes] of sidecar) t.push(bundle((_r, base) => side(set(base)), invalid, codes));
  t.push(bundle(() => ({ op: "append", file: "inseq_bundle.json", text: "}" }), true, ["ERR_BAD_MODEL", "ERR_BAD_CHECKPOINT"]));
  t.push(bundle(() => ({ op: "rm", file: "model.torchscript" }), true, ["ERR_NOT_FOUND"]));
  t.push(bundle(() => ({ op: "rm", file: "inseq_bundle.json" }), true, ["ERR_NOT_FOUND"]));
  t.push(() => ({ category: "bundle", base: "torchscript/broken-missing-method", mutations: [], action: SMOKE, invalid: true, expectCodes: ["ERR_BAD_MODEL"] }));
  return t;
}

function shardedTemplates(): Template[] {
  const base = "reference/llama-sharded";
  const index = JSON.parse(readFileSync(path.join(fixtures, base, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
  const names = Object.keys(index.weight_map).sort();
  const shard = "model-00002-of-00003.safetensors";
  const movedTo = (target: string): Mutation => ({
    op: "json", file: "model.safetensors.index.json",
    set: names.filter((n) => index.weight_map[n] === shard).map((n) => [["weight_map", n], target]),
  });
  const c = (mutations: Mutation[], invalid: boolean, expectCodes?: string[]): Template => () => ({ category: "sharded", base, mutations, action: SMOKE, invalid, expectCodes });
  const t: Template[] = [
    // Issue 10 item 16: the shard exists, but outside the model folder.
    c([{ op: "copy", file: shard, to: "../outside.safetensors" }, movedTo("../outside.safetensors")], true, BAD_CHECKPOINT),
    c([{ op: "copy", file: shard, to: "../outside.safetensors" }, movedTo(`${shard}/../../outside.safetensors`)], true, BAD_CHECKPOINT),
    c([movedTo("/etc/hostname")], true, BAD_CHECKPOINT),
    c([movedTo("missing.safetensors")], true, ["ERR_NOT_FOUND", "ERR_BAD_CHECKPOINT"]),
    c([json("model.safetensors.index.json", ["weight_map"], null)], true, BAD_CHECKPOINT),
    c([json("model.safetensors.index.json", ["weight_map"], [])], true, BAD_CHECKPOINT),
    c([{ op: "append", file: "model.safetensors.index.json", text: "}" }], true, BAD_CHECKPOINT),
    c([{ op: "rm", file: shard }], true, ["ERR_NOT_FOUND", "ERR_BAD_CHECKPOINT"]),
    c([json("model.safetensors.index.json", ["metadata", "total_size"], 1)], false),
    c([{ op: "copy", file: shard, to: "renamed.safetensors" }, movedTo("renamed.safetensors"), { op: "rm", file: shard }], false),
  ];
  return t;
}

export const TEMPLATE_GROUPS: Record<Category, () => Template[]> = {
  config: configTemplates,
  "encdec-config": encdecTemplates,
  safetensors: safetensorsTemplates,
  tokenizer: tokenizerTemplates,
  ids: idsTemplates,
  options: optionsTemplates,
  bundle: bundleTemplates,
  sharded: shardedTemplates,
};

/** Number of templates: one round of the corpus covers each once. */
export function templateCount(): number {
  return Object.values(TEMPLATE_GROUPS).reduce((n, g) => n + g().length, 0);
}

/**
 * `count` cases from `seed`: rounds over every template (each round in a seeded order, with fresh random offsets,
 * tensors, positions and bases), cut at `count`.
 */
export function buildCorpus(seed: number, count: number): FuzzCase[] {
  const rng = new Prng(seed);
  const templates = Object.entries(TEMPLATE_GROUPS).flatMap(([group, make]) => make().map((tpl, i) => ({ name: `${group}.${i}`, tpl })));
  const cases: FuzzCase[] = [];
  for (let round = 0; cases.length < count; round++) {
    for (const { name, tpl } of rng.shuffle(templates)) {
      if (cases.length >= count) break;
      const c = tpl(rng);
      const describe = ({ op, file, set, ...rest }: Mutation): string =>
        set
          ? `${op}:${(set as [unknown[], unknown][]).slice(0, 1).map(([k, v]) => `${k.join(".")}=${short(v)}`)}`
          : `${op}:${file}${Object.keys(rest).length ? JSON.stringify(rest).slice(0, 70) : ""}`;
      const what = [...c.mutations.map(describe), c.action.kind].join("+");
      const { kind, ...args } = c.action;
      const argText = Object.keys(args).length ? ` ${JSON.stringify(args).slice(0, 90)}` : "";
      cases.push({ id: `${name}${round ? `r${round}` : ""} ${c.base} ${what}${argText}`, ...c });
    }
  }
  return cases;
}
