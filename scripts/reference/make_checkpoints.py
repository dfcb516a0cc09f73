#!/usr/bin/env python3
"""Make tiny random Hugging Face checkpoints + golden outputs with `transformers`.

The native (C++/LibTorch) forward passes of inseq-node are tested against these
files: every checkpoint is written by `transformers`' own `save_pretrained`, and
every golden number is computed by `transformers` itself (eager attention,
float32, CPU) from the checkpoint *as loaded back from disk*.

Run (from the repository root or anywhere):

    /opt/inseq-py/venv/bin/python scripts/reference/make_checkpoints.py [NAME ...]

With names, only those checkpoints are rewritten (the float32 goldens of the older
fixtures differ in the last bits on CPUs other than the one that wrote them).

Output: test/fixtures/reference/<name>/ for each model in build_configs(), with
  config.json, generation_config.json,
  model.safetensors  (or model.safetensors.index.json + model-0000k-of-0000n.safetensors),
  tokenizer.json, tokenizer_config.json   (one shared byte-level BPE tokenizer),
  golden.json        (see `make_golden` for the exact structure).

Everything is deterministic: the tokenizer is trained by a deterministic BPE
trainer and each model's weights come from torch.manual_seed(<per-model seed>).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import safetensors
import safetensors.torch
import torch
import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GemmaConfig,
    GemmaForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Olmo2Config,
    Olmo2ForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path("/work/shared/fixtures/tinystories-sample/tinystories_sample.txt")
if not CORPUS.exists():  # shared/ may also sit next to the checkout
    CORPUS = REPO.parent / "shared/fixtures/tinystories-sample/tinystories_sample.txt"
OUT = REPO / "test/fixtures/reference"

SPECIAL = "<|endoftext|>"
TARGET_VOCAB = 300
MAX_NEW_TOKENS = 12
# Smallest allowed top-1 minus top-2 logit gap along each greedy path, so that
# float32 rounding differences in a reimplementation cannot flip an argmax.
MIN_GREEDY_GAP = 0.02
# Prompts of different token lengths (the script asserts 3, 6 and 10 tokens
# with the tokenizer it trains; change these together with the tokenizer).
# Lengths are kept short because golden.json stores full-precision logits at
# every position (positions x vocab floats) and each fixture dir must stay
# under 300 KB.
PROMPTS = [
    "He was",
    "Ben and the cat",
    "The cat’s toy",  # U+2019 is 3 UTF-8 bytes -> 3 byte-level tokens
]
EXPECTED_PROMPT_LENGTHS = [3, 6, 10]

# Tiny shapes shared by every model.
HIDDEN, LAYERS, HEADS, INTERMEDIATE, MAX_POS = 32, 2, 4, 64, 128


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------
def train_tokenizer() -> Tokenizer:
    """GPT-2 style byte-level BPE: ByteLevel pre-tokenizer (no prefix space),
    ByteLevel decoder, ByteLevel post-processor (adds NO bos/eos)."""
    tok = Tokenizer(models.BPE())  # no unk token: byte-level covers everything
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TARGET_VOCAB,
        special_tokens=[SPECIAL],  # -> id 0
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes
        show_progress=False,
    )
    text = CORPUS.read_text(encoding="utf-8")
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    return tok


def make_hf_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    # NB: do not pass add_bos_token/add_eos_token here: with those kwargs
    # transformers 5.x replaces the ByteLevel post-processor in the saved
    # tokenizer.json by an (empty) TemplateProcessing.  Without them the
    # tokenizer.json keeps GPT-2's layout, and nothing adds BOS/EOS either way.
    # (PreTrainedTokenizerFast is an alias of TokenizersBackend in 5.x.)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL,
        eos_token=SPECIAL,
        unk_token=SPECIAL,
        pad_token=SPECIAL,
    )


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------
def build_configs(vocab: int, eot: int) -> dict:
    """name -> (model class, config, seed, save dtype, extra save_pretrained kwargs).

    Seeds were picked from ten candidates each so that no greedy step is a
    near-tie (main() asserts top1 - top2 >= MIN_GREEDY_GAP at every step) and
    the greedy continuations are not just one token repeated (>= 3 distinct
    tokens in each)."""
    ids = dict(bos_token_id=eot, eos_token_id=eot, pad_token_id=eot)
    llama_kwargs = dict(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=2,  # GQA: 2 query heads per kv head
        max_position_embeddings=MAX_POS,
        # transformers 5.x spells RoPE settings as `rope_parameters` (theta lives
        # inside it); the legacy `rope_theta=` + `rope_scaling=` kwargs are
        # converted to exactly this.
        rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0},
        tie_word_embeddings=False,
        **ids,
    )
    gpt2 = lambda: GPT2Config(  # noqa: E731
        vocab_size=vocab,
        n_embd=HIDDEN,
        n_layer=LAYERS,
        n_head=HEADS,
        n_inner=INTERMEDIATE,
        n_positions=MAX_POS,
        tie_word_embeddings=True,
        **ids,
    )
    # Gemma: GQA (2 kv heads), explicit head_dim, tied head (the default). Gemma 2 / 3 get a sliding window of 4
    # keys, so the 10-token prompt and the generated tokens reach past it on the sliding layers (layer 0; layer 1
    # is global: layer_types as transformers derives them).
    gemma_kwargs = dict(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=MAX_POS,
        **ids,
    )
    gemma2 = lambda **caps: Gemma2Config(  # noqa: E731
        **gemma_kwargs,
        query_pre_attn_scalar=16,  # scores scaled by 16^-0.5, not head_dim^-0.5
        sliding_window=4,
        **caps,
    )
    variant_kwargs = dict(  # qwen3 / olmo2 / phi3: the llama shapes, default RoPE
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POS,
        tie_word_embeddings=False,
        **ids,
    )
    qwen3 = lambda bias, **kw: Qwen3Config(  # noqa: E731
        **variant_kwargs, head_dim=12, attention_bias=bias, **kw  # head_dim != hidden / heads
    )
    half_rot = HIDDEN // HEADS // 2
    phi3_longrope = dict(
        rope_type="longrope",
        rope_theta=10000.0,
        # short factors near 1, long ones stretching the low frequencies
        short_factor=[1.0 + 0.05 * i for i in range(half_rot)],
        long_factor=[1.0 + 1.5 * i for i in range(half_rot)],
    )
    neox = lambda **kw: GPTNeoXConfig(  # noqa: E731
        vocab_size=vocab,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        max_position_embeddings=MAX_POS,
        hidden_act="gelu",
        tie_word_embeddings=False,
        **ids,
        **kw,
    )
    return {
        "gpt2": (GPT2LMHeadModel, gpt2(), 1101, torch.float32, {}),
        "llama": (LlamaForCausalLM, LlamaConfig(**llama_kwargs), 1302, torch.float32, {}),
        "qwen2": (
            Qwen2ForCausalLM,
            Qwen2Config(
                vocab_size=vocab,
                hidden_size=HIDDEN,
                intermediate_size=INTERMEDIATE,
                num_hidden_layers=LAYERS,
                num_attention_heads=HEADS,
                num_key_value_heads=2,
                max_position_embeddings=MAX_POS,
                tie_word_embeddings=True,  # q/k/v biases are always on in Qwen2
                **ids,
            ),
            1303,
            torch.float32,
            {},
        ),
        "mistral": (
            MistralForCausalLM,
            MistralConfig(
                vocab_size=vocab,
                hidden_size=HIDDEN,
                intermediate_size=INTERMEDIATE,
                num_hidden_layers=LAYERS,
                num_attention_heads=HEADS,
                num_key_value_heads=1,  # MQA
                head_dim=HIDDEN // HEADS,
                max_position_embeddings=MAX_POS,
                sliding_window=None,
                tie_word_embeddings=False,
                **ids,
            ),
            1304,
            torch.float32,
            {},
        ),
        # Same family as llama, other seed, written as >= 2 shards + index.
        "llama-sharded": (
            LlamaForCausalLM,
            LlamaConfig(**llama_kwargs),
            1105,
            torch.float32,
            {"max_shard_size": "60KB"},
        ),
        # Weights stored as BF16 / F16; goldens come from the float32 upcast.
        "llama-bf16": (LlamaForCausalLM, LlamaConfig(**llama_kwargs), 1506, torch.bfloat16, {}),
        "gpt2-f16": (GPT2LMHeadModel, gpt2(), 1807, torch.float16, {}),
        "gemma": (GemmaForCausalLM, GemmaConfig(**gemma_kwargs), GEMMA_SEEDS["gemma"], torch.float32, {}),
        # Caps small enough to bend the scores (std ~3) and logits (std ~6).
        "gemma2": (
            Gemma2ForCausalLM,
            gemma2(attn_logit_softcapping=3.0, final_logit_softcapping=8.0),
            GEMMA_SEEDS["gemma2"],
            torch.float32,
            {},
        ),
        "gemma2-nocap": (
            Gemma2ForCausalLM,
            gemma2(attn_logit_softcapping=None, final_logit_softcapping=None),
            GEMMA_SEEDS["gemma2-nocap"],
            torch.float32,
            {},
        ),
        # QK-norm; layer 0 sliding (local RoPE base 10^4), layer 1 global (base 10^6, linear scaling x2).
        # attn_logit_softcapping is set but Gemma 3's attention ignores it (transformers passes no softcap).
        "gemma3": (
            Gemma3ForCausalLM,
            Gemma3TextConfig(
                **gemma_kwargs,
                query_pre_attn_scalar=16,
                sliding_window=4,
                sliding_window_pattern=2,
                rope_parameters={
                    "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                    "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                },
                attn_logit_softcapping=3.0,
                final_logit_softcapping=None,
            ),
            GEMMA_SEEDS["gemma3"],
            torch.float32,
            {},
        ),
        # Real Gemmas' heads are not hidden / heads wide (Gemma-2-2B: 8 x 256 = 2048 != 2304): q/o 4 x 12 = 48 != 32,
        # and one KV head (MQA); transformers' default layer pattern and RoPE (both layers sliding at 2 layers).
        "gemma3-hd12": (
            Gemma3ForCausalLM,
            Gemma3TextConfig(
                **{**gemma_kwargs, "head_dim": 12, "num_key_value_heads": 1},
                query_pre_attn_scalar=12,
                sliding_window=4,
            ),
            GEMMA_SEEDS["gemma3-hd12"],
            torch.float32,
            {},
        ),
        # Llama variants (config switches of the native llama family).
        # qwen3: per-head q/k RMSNorm, explicit head_dim, sliding window on the layers from max_window_layers on.
        "qwen3": (Qwen3ForCausalLM, qwen3(False, use_sliding_window=True, sliding_window=4, max_window_layers=1),
                  1910, torch.float32, {}),
        "qwen3-bias": (Qwen3ForCausalLM, qwen3(True), 1913, torch.float32, {}),
        # olmo2: post-norm blocks, q/k RMSNorm over the whole projections.
        "olmo2": (Olmo2ForCausalLM, Olmo2Config(**variant_kwargs), 1912, torch.float32, {}),
        # phi3: fused qkv_proj / gate_up_proj; RoPE without scaling on half of each head (partial_rotary_factor).
        "phi3": (Phi3ForCausalLM,
                 Phi3Config(**variant_kwargs, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                                "partial_rotary_factor": 0.5}),
                 1908, torch.float32, {}),
        # phi3 with LongRoPE: prompts of 3 and 6 tokens cross original_max_position_embeddings = 8 while
        # generating (short factors, then the long ones after the cache is rebuilt); the 10-token one starts beyond.
        "phi3-longrope": (Phi3ForCausalLM, Phi3Config(**{**variant_kwargs, "max_position_embeddings": 64},
                                                      original_max_position_embeddings=8, rope_parameters=phi3_longrope),
                          1910, torch.float32, {}),
        # Pythia's layout: parallel residual, rotary over a quarter of each head (2 of 8 dims), biased
        # query_key_value / dense, untied embed_out.  The legacy rotary_pct / rotary_emb_base kwargs are
        # converted to `rope_parameters` {"partial_rotary_factor", "rope_theta"}.
        "gpt_neox": (
            GPTNeoXForCausalLM,
            neox(use_parallel_residual=True, rotary_pct=0.25, rotary_emb_base=10000, attention_bias=True),
            1912,
            torch.float32,
            {},
        ),
        # The other switches: sequential residual, rotary over whole heads, no attention biases.
        "gpt_neox-sequential": (
            GPTNeoXForCausalLM,
            neox(use_parallel_residual=False, rotary_pct=1.0, rotary_emb_base=10000, attention_bias=False),
            1917,
            torch.float32,
            {},
        ),
    }


# Picked like the seeds above: the first that passes, counting up from 2101, 2102, 2103, 2104, 2105.
GEMMA_SEEDS = {"gemma": 2106, "gemma2": 2104, "gemma2-nocap": 2103, "gemma3": 2116, "gemma3-hd12": 2119}

# Stored name -> module name where transformers 5 renames a checkpoint tensor on load (conversion_mapping.py).
LOAD_RENAMES = {"embed_out.weight": "lm_head.weight"}

RESIDUAL_OUT = ("o_proj", "down_proj", "attn.c_proj", "mlp.c_proj", "attention.dense", "dense_4h_to_h")
RESIDUAL_OUT_GAIN = 3.0


@torch.no_grad()
def randomize_(model: torch.nn.Module, seed: int) -> None:
    """Overwrite every parameter with O(1)-scale random values.

    transformers' own init (std 0.02, zero biases, unit norms) gives near-uniform
    attention and near-zero logits, so a wrong RoPE, mask, bias or norm weight
    in the native code would still "match".  Here instead:
      * embeddings (token + position) and untied lm_head: N(0, 0.5^2), so
        logits have std ~3 and greedy argmaxes are not near-ties; token
        embeddings that the model scales (Gemma: x sqrt(hidden)) get that
        std divided by the scale, so the residual stream starts at the same
        scale as the others' (else the tied head repeats the input token)
      * other matrices (Linear / Conv1D): N(0, 1/fan_in), so activations
        stay ~unit scale and attention scores have std ~1; the residual
        output projections (attn o_proj/c_proj, mlp down_proj/c_proj) get
        RESIDUAL_OUT_GAIN times that std
      * norm weights: 1 + N(0, 0.1^2);  every bias (incl. LayerNorm): N(0, 0.1^2)
    Parameters are visited in named_parameters() order (tied weights once), so
    the values are a pure function of the seed.
    """
    torch.manual_seed(seed)
    embed_scale = float(getattr(model.get_input_embeddings(), "scalar_embed_scale", 1.0))
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.copy_(torch.randn_like(p) * 0.1)
        elif p.dim() == 1:  # LayerNorm / RMSNorm weights
            p.copy_(1.0 + torch.randn_like(p) * 0.1)
        elif "wte" in name or "wpe" in name or "embed_tokens" in name or "embed_in" in name or "lm_head" in name:
            p.copy_(torch.randn_like(p) * (0.5 / embed_scale if "embed_tokens" in name else 0.5))
        else:
            # GPT-2 Conv1D stores [in, out]; nn.Linear stores [out, in].
            fan_in = p.shape[0] if ".c_" in name else p.shape[1]
            # Projections that write back into the residual stream get a larger
            # scale, otherwise the token embedding dominates the final hidden
            # state and tied-head models greedily repeat the input token.
            gain = RESIDUAL_OUT_GAIN if any(k in name for k in RESIDUAL_OUT) else 1.0
            p.copy_(torch.randn_like(p) * (gain / math.sqrt(fan_in)))


# ---------------------------------------------------------------------------
# Goldens
# ---------------------------------------------------------------------------
def floats(t: torch.Tensor):
    """Nested lists of Python floats holding the exact float32 values."""
    assert t.dtype == torch.float32
    return t.tolist()  # float32 -> Python float is exact; json writes repr()


@torch.no_grad()
def manual_greedy(model, ids: list[int], n: int) -> tuple[list[int], float]:
    """Greedy decoding by full re-forward each step (no KV cache); also returns
    the smallest top-1 minus top-2 logit gap met on the way (tie sensitivity)."""
    seq = list(ids)
    gap = math.inf
    for _ in range(n):
        logits = model(torch.tensor([seq])).logits[0, -1]
        top = torch.topk(logits, 2).values
        gap = min(gap, float(top[0] - top[1]))
        seq.append(int(logits.argmax()))
    return seq[len(ids):], gap


@torch.no_grad()
def make_golden(model_dir: Path) -> tuple[dict, dict]:
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # The loaded float32 weights must be exactly the stored tensors upcast
    # (F16/BF16 -> F32 is exact), and every stored tensor must be used.
    stored = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        stored.update(safetensors.torch.load_file(f))
    # transformers renames some checkpoint names on load (GPT-NeoX's embed_out is its lm_head module).
    stored = {LOAD_RENAMES.get(k, k): v for k, v in stored.items()}
    params = dict(model.named_parameters())  # tied lm_head is not listed twice
    assert stored.keys() == params.keys(), stored.keys() ^ params.keys()
    assert all(torch.equal(stored[k].float(), params[k]) for k in stored)

    prompts = []
    for text in PROMPTS:
        ids = tok(text).input_ids  # no special tokens get added by this tokenizer
        assert tok(text, add_special_tokens=False).input_ids == ids
        prompts.append({"text": text, "ids": ids})
    lengths = [len(p["ids"]) for p in prompts]
    assert lengths == EXPECTED_PROMPT_LENGTHS, lengths

    # Greedy settings.  eos_token_id=None *as a generate() kwarg* switches off
    # stopping, so exactly MAX_NEW_TOKENS come out even when <|endoftext|> (id 0)
    # is the argmax (greedy treats it like any other token).  NB: in
    # transformers 5.x a GenerationConfig(eos_token_id=None) object does NOT do
    # this: its None fields are filled from model.generation_config (eos 0).
    # pad_token_id is needed for the left-padded batch.
    gen_kwargs = dict(
        max_new_tokens=MAX_NEW_TOKENS,
        do_sample=False,
        num_beams=1,
        eos_token_id=None,
        pad_token_id=tok.pad_token_id,
    )

    logits, greedy, gaps = [], [], []
    for p in prompts:
        x = torch.tensor([p["ids"]])
        logits.append(floats(model(x).logits[0]))
        out = model.generate(x, attention_mask=torch.ones_like(x), **gen_kwargs)
        new = out[0, x.shape[1]:].tolist()
        assert len(new) == MAX_NEW_TOKENS, new
        # generate() (KV cache) must agree with plain argmax re-forwarding.
        ref, gap = manual_greedy(model, p["ids"], MAX_NEW_TOKENS)
        assert new == ref, (new, ref)
        greedy.append(new)
        gaps.append(gap)

    tok.padding_side = "left"
    batch = tok([p["text"] for p in prompts], padding=True, return_tensors="pt")
    out = model.generate(**batch, **gen_kwargs)
    width = batch["input_ids"].shape[1]
    greedy_batched = out[:, width:].tolist()
    assert all(len(g) == MAX_NEW_TOKENS for g in greedy_batched)

    x2 = torch.tensor([prompts[2]["ids"]])
    o = model(x2, output_attentions=True, output_hidden_states=True)
    assert len(o.hidden_states) == model.config.num_hidden_layers + 1
    # Sanity: the last hidden state is post final-norm, i.e. lm_head(h) == logits (soft-capped: Gemma 2 / 3).
    head = model.get_output_embeddings()(o.hidden_states[-1])
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap is not None:
        head = torch.tanh(head / cap) * cap
    assert torch.allclose(head, o.logits, atol=1e-5)

    golden = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "model_type": model.config.model_type,
        "prompts": prompts,
        "logits": logits,
        "greedy": greedy,
        "greedy_batched": greedy_batched,
        "attentions_layer0_prompt2": floats(o.attentions[0][0]),
        "hidden_states_last_prompt2": floats(o.hidden_states[-1][0]),
    }
    info = {"batched_equal": greedy_batched == greedy, "min_gap": min(gaps)}
    return golden, info


# ---------------------------------------------------------------------------
def main() -> int:
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"tokenizers {tokenizers.__version__}, safetensors {safetensors.__version__}")
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)  # bit-stable CPU reductions run to run
    torch.use_deterministic_algorithms(True)

    raw_tok = train_tokenizer()
    hf_tok = make_hf_tokenizer(raw_tok)
    vocab = len(hf_tok)  # includes <|endoftext|>
    eot = hf_tok.convert_tokens_to_ids(SPECIAL)
    assert raw_tok.get_vocab_size() == vocab and eot == 0, (vocab, eot)

    # Names on the command line rewrite those checkpoints only (the others stay as they are); none: all of them.
    only = sys.argv[1:]
    configs = build_configs(vocab, eot)
    unknown = [n for n in only if n not in configs]
    assert not unknown, f"unknown checkpoints {unknown}; known: {list(configs)}"
    if OUT.exists() and not only:
        shutil.rmtree(OUT)
    rows = []
    for name, (cls, config, seed, save_dtype, save_kwargs) in configs.items():
        if only and name not in only:
            continue
        d = OUT / name
        if d.exists():
            shutil.rmtree(d)
        torch.manual_seed(seed)
        model = cls(config).eval()
        randomize_(model, seed)
        model.generation_config.eos_token_id = eot
        model.generation_config.bos_token_id = eot
        model.generation_config.pad_token_id = eot
        model.to(save_dtype)
        model.save_pretrained(d, **save_kwargs)
        hf_tok.save_pretrained(d)
        for f in d.iterdir():  # safetensors writes 0600 files; make them normal
            f.chmod(0o644)

        golden, info = make_golden(d)
        (d / "golden.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")

        files = sorted(f for f in d.iterdir())
        total = sum(f.stat().st_size for f in files)
        shards = [f.name for f in files if f.suffix == ".safetensors"]
        assert total < 300_000, (name, total)
        assert info["min_gap"] >= MIN_GREEDY_GAP, (name, info, "near-tie: pick another seed")
        if name == "llama-sharded":
            assert len(shards) >= 2 and (d / "model.safetensors.index.json").exists(), shards
        if len(shards) > 1:
            print(f"{name}: {', '.join(shards)} + model.safetensors.index.json")
        rows.append((name, total, (d / "golden.json").stat().st_size, len(shards),
                     str(save_dtype).removeprefix("torch."), info["batched_equal"], info["min_gap"]))

    print(f"\n{'model':<14} {'dir bytes':>9} {'golden':>7} {'shards':>6} {'weights':>8} "
          f"{'batched==greedy':>15} {'min top1-top2 gap':>18}")
    for name, total, gsize, nshards, dt, eq, gap in rows:
        print(f"{name:<14} {total:>9} {gsize:>7} {nshards:>6} {dt:>8} {str(eq):>15} {gap:>18.4f}")
    print(f"\nvocab size {vocab}, <|endoftext|> id {eot}; wrote {OUT.relative_to(REPO)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
