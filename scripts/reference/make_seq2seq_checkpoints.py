#!/usr/bin/env python3
"""Make tiny random Hugging Face *encoder-decoder* checkpoints + goldens.

Companion of make_checkpoints.py (decoder-only).  Every checkpoint is written by
`transformers`' own `save_pretrained`, and every golden number is computed by
`transformers` itself (eager attention, float32, CPU) from the checkpoint *as
loaded back from disk*.

Run:

    /opt/inseq-py/venv/bin/python scripts/reference/make_seq2seq_checkpoints.py

Output: test/fixtures/reference-seq2seq/<name>/ for name in marian, bart, mbart,
m2m_100, t5 (v1.0: relu feed-forward, tied head with the d_model**-0.5 rescale)
and t5-v1_1 (gated-gelu, untied lm_head, no rescale), each with
config.json, generation_config.json, model.safetensors, tokenizer.json +
tokenizer_config.json (one small BPE tokenizer; the t5 pair has its own, trained
the same way with T5's special ids <pad>=0, </s>=1, <unk>=2 and a 4th special, so
its other ids are the same) and golden.json:

  transformers_version, torch_version, model_type,
  config                      the config.json keys that matter
  stored_tensors              {name: shape} of model.safetensors
  sources        [3][len]     source ids, lengths 4, 7, 10, each ending in eos
  decoder_inputs [3][len]     decoder ids, lengths 3, 5, 6, each starting with
                              decoder_start_token_id
  logits         [3][dec_len][vocab]
                              model(input_ids=src, decoder_input_ids=dec).logits,
                              one unpadded example per call
  encoder_last_hidden_state [src_len][d_model]       example 0
  cross_attentions_layer0_example1 [heads][dec_len][src_len]  example 1
  greedy         [3][8]       generate(src, decoder_start only) new tokens,
                              one example per call
  greedy_batched [3][8]       the 3 sources in one generate() call, right-padded
                              with pad_token_id + attention_mask; new tokens only
  greedy_min_gap              smallest top1 - top2 logit gap along `greedy`

t5 / t5-v1_1 also: encoder_attentions_layer0_example1 [heads][src_len][src_len]
and decoder_attentions_last_example1 [heads][dec_len][dec_len] (the relative
position bias at work), decoder_last_hidden_state_example0 [dec_len][d_model]
(after the final norm, before the rescale), {encoder,decoder}_position_bias_q40_k81 [heads][81] (block 0's
compute_bias for one query at position 40 over keys 0..80: relative positions -40..40, bidirectional and causal
buckets up to the max_distance clamp).

Greedy settings: max_new_tokens=8, do_sample=False, num_beams=1, and
eos_token_id=None / forced_eos_token_id=None / forced_bos_token_id=None passed as
generate() kwargs (this switches stopping and forcing off, so exactly 8 tokens
come out).  The script checks that generate() equals plain argmax re-forwarding
without a cache (so no hidden logits processor is at work).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import safetensors
import safetensors.torch
import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoModelForSeq2SeqLM,
    BartConfig,
    BartForConditionalGeneration,
    GenerationConfig,
    M2M100Config,
    M2M100ForConditionalGeneration,
    MarianConfig,
    MarianMTModel,
    MBartConfig,
    MBartForConditionalGeneration,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path("/work/shared/fixtures/tinystories-sample/tinystories_sample.txt")
if not CORPUS.exists():
    CORPUS = REPO.parent / "shared/fixtures/tinystories-sample/tinystories_sample.txt"
OUT = REPO / "test/fixtures/reference-seq2seq"

# Special tokens (fairseq / BART order): <s>=0, <pad>=1, </s>=2, <unk>=3.
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
BOS, PAD, EOS, UNK = 0, 1, 2, 3
# T5's order: <pad>=0, </s>=1, <unk>=2 (no bos); a 4th special keeps the other ids equal to SPECIALS' tokenizer's.
T5_SPECIALS = ["<pad>", "</s>", "<unk>", "<extra_id_0>"]
T5_PAD, T5_EOS, T5_UNK = 0, 1, 2
TARGET_VOCAB = 160
MAX_NEW_TOKENS = 8
MIN_GREEDY_GAP = 0.02
SEED_TRIES = 100
SOURCE_LENGTHS = [4, 7, 10]
DECODER_LENGTHS = [3, 5, 6]

D_MODEL, LAYERS, HEADS, FFN, MAX_POS = 32, 2, 4, 64, 64


# ---------------------------------------------------------------------------
# Tokenizer (optional for the tests: ids are what matter)
# ---------------------------------------------------------------------------
def train_tokenizer(specials: list[str] = SPECIALS, eos: int = EOS) -> Tokenizer:
    """SentencePiece-like BPE: Metaspace pre-tokenizer/decoder, post-processor
    appends </s> (like Marian / M2M100 / BART-ish source encoding)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=TARGET_VOCAB,
        special_tokens=specials,
        limit_alphabet=60,
        show_progress=False,
    )
    text = CORPUS.read_text(encoding="utf-8")
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A $B </s>", special_tokens=[("</s>", eos)]
    )
    for i, s in enumerate(specials):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


def make_hf_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )


def make_t5_hf_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def make_inputs(tok: Tokenizer, specials: tuple[int, ...] = (BOS, PAD, EOS, UNK), eos: int = EOS,
                unk: int = UNK) -> tuple[list[list[int]], list[list[int]], dict]:
    """Sources: first L-1 content tokens of corpus lines + </s>.
    Decoder inputs (without the start token): first L-1 tokens of other lines."""
    lines = [l for l in CORPUS.read_text(encoding="utf-8").splitlines() if l.strip()]
    ids = [tok.encode(l, add_special_tokens=False).ids for l in lines]
    for x in ids:
        assert unk not in x[:12]
    sources = [ids[i][: n - 1] + [eos] for i, n in zip((0, 3, 6), SOURCE_LENGTHS)]
    dec_tails = [ids[i][1: n] for i, n in zip((1, 4, 7), DECODER_LENGTHS)]
    for s in sources + dec_tails:
        assert all(t not in specials for t in s[:-1])
    texts = {"source_lines": [lines[i] for i in (0, 3, 6)]}
    return sources, dec_tails, texts


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------
def common(vocab: int) -> dict:
    return dict(
        vocab_size=vocab,
        d_model=D_MODEL,
        encoder_layers=LAYERS,
        decoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS,
        encoder_ffn_dim=FFN,
        decoder_ffn_dim=FFN,
        max_position_embeddings=MAX_POS,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
        forced_eos_token_id=None,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        tie_word_embeddings=True,
    )


def build_configs(vocab: int) -> dict:
    """name -> (class, config, first seed)."""
    return {
        "marian": (
            MarianMTModel,
            MarianConfig(
                **common(vocab),
                decoder_vocab_size=vocab,
                scale_embedding=True,
                share_encoder_decoder_embeddings=True,
                activation_function="swish",
                decoder_start_token_id=PAD,
            ),
            2101,
        ),
        "bart": (
            BartForConditionalGeneration,
            BartConfig(
                **common(vocab),
                scale_embedding=False,
                activation_function="gelu",
                decoder_start_token_id=EOS,
            ),
            2201,
        ),
        "mbart": (
            MBartForConditionalGeneration,
            MBartConfig(
                **common(vocab),
                scale_embedding=True,
                activation_function="gelu",
                decoder_start_token_id=EOS,
            ),
            2301,
        ),
        "m2m_100": (
            M2M100ForConditionalGeneration,
            M2M100Config(
                **common(vocab),
                scale_embedding=True,
                activation_function="relu",
                decoder_start_token_id=EOS,
            ),
            2401,
        ),
    }


# T5 (v1.0 relu + tied head, v1.1 gated-gelu + untied head). d_kv * heads = 24 != d_model; small bucket counts and
# distances so that the sequences here reach the logarithmic buckets and (t5-v1_1) the max_distance clamp.
T5_D_KV = 6


def build_t5_configs(vocab: int) -> dict:
    """name -> (class, config, first seed)."""
    common_t5 = dict(
        vocab_size=vocab, d_model=D_MODEL, d_kv=T5_D_KV, num_heads=HEADS, num_layers=LAYERS,
        pad_token_id=T5_PAD, eos_token_id=T5_EOS, decoder_start_token_id=T5_PAD,
    )
    return {
        "t5": (
            T5ForConditionalGeneration,
            T5Config(**common_t5, d_ff=FFN, feed_forward_proj="relu", relative_attention_num_buckets=8,
                     relative_attention_max_distance=16),
            2501,
        ),
        "t5-v1_1": (
            T5ForConditionalGeneration,
            T5Config(**common_t5, d_ff=48, feed_forward_proj="gated-gelu",
                     relative_attention_num_buckets=16, relative_attention_max_distance=12, tie_word_embeddings=False),
            2601,
        ),
    }


def new_t5(cls, config) -> torch.nn.Module:
    """transformers 5 always ties lm_head to shared at init (T5Config sets tie_word_embeddings=True and keeps
    tie_word_embeddings=False only as scale_decoder_outputs=False); an untied head is a separate parameter that
    save_pretrained writes and from_pretrained keeps untied (its values differ from shared.weight)."""
    model = cls(config)
    if not config.scale_decoder_outputs:
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    return model


@torch.no_grad()
def randomize_t5_(model: torch.nn.Module, seed: int) -> None:
    """O(1)-scale weights: shared N(0, 1); an untied lm_head N(0, (2/sqrt(d))^2); relative_attention_bias N(0, 1);
    norm weights 1 + N(0, 0.1^2); Linear N(0, gain^2/fan_in), gain RESIDUAL_OUT_GAIN for the self-attention o and
    wo, CROSS_OUT_GAIN for EncDecAttention.o, 1 otherwise (no QK gain: T5 does not scale q.k by 1/sqrt(d_kv))."""
    torch.manual_seed(seed)
    for name, p in model.named_parameters():
        if p.dim() == 1:
            p.copy_(1.0 + torch.randn_like(p) * 0.1)
        elif name == "shared.weight" or "relative_attention_bias" in name:
            p.copy_(torch.randn_like(p))
        elif name == "lm_head.weight":
            p.copy_(torch.randn_like(p) * (2.0 / math.sqrt(p.shape[1])))
        else:
            if "EncDecAttention.o." in name:
                gain = CROSS_OUT_GAIN
            elif "SelfAttention.o." in name or ".wo." in name:
                gain = RESIDUAL_OUT_GAIN
            else:
                gain = 1.0
            p.copy_(torch.randn_like(p) * (gain / math.sqrt(p.shape[1])))


RESIDUAL_OUT = ("out_proj", "fc2")
RESIDUAL_OUT_GAIN = 3.0
# Cross-attention sees the same encoder states at every decoder step; with the
# residual gain its (nearly position-independent) output dominates the decoder
# state and greedy decoding emits one token over and over, so it gets gain 1
# (0.3 was tried: then the output no longer depends on the source).  Query/key
# projections are sharper so attention patterns vary.
CROSS_OUT_GAIN = 1.0
QK_GAIN = 2.0


@torch.no_grad()
def randomize_(model: torch.nn.Module, seed: int) -> None:
    """Same scheme as make_checkpoints.py: embeddings (token, learned position)
    N(0, 0.5^2); Linear N(0, 1/fan_in), times RESIDUAL_OUT_GAIN for self-attn
    out_proj / fc2, CROSS_OUT_GAIN for encoder_attn.out_proj, QK_GAIN for q/k;
    norm weights 1 + N(0, 0.1^2); biases N(0, 0.1^2); final_logits_bias
    N(0, 0.5^2).  Frozen parameters (Marian's sinusoidal position tables) are
    left alone.  Tied weights are visited once."""
    torch.manual_seed(seed)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.endswith("bias"):
            p.copy_(torch.randn_like(p) * 0.1)
        elif p.dim() == 1:
            p.copy_(1.0 + torch.randn_like(p) * 0.1)
        elif any(k in name for k in ("shared", "embed_tokens", "embed_positions", "lm_head")):
            p.copy_(torch.randn_like(p) * 0.5)
        else:
            if "encoder_attn.out_proj" in name:
                gain = CROSS_OUT_GAIN
            elif any(k in name for k in RESIDUAL_OUT):
                gain = RESIDUAL_OUT_GAIN
            elif "q_proj" in name or "k_proj" in name:
                gain = QK_GAIN
            else:
                gain = 1.0
            p.copy_(torch.randn_like(p) * (gain / math.sqrt(p.shape[1])))
    if hasattr(model, "final_logits_bias"):
        model.final_logits_bias.copy_(torch.randn_like(model.final_logits_bias) * 0.5)


# ---------------------------------------------------------------------------
# Goldens
# ---------------------------------------------------------------------------
def floats(t: torch.Tensor):
    assert t.dtype == torch.float32
    return t.tolist()


@torch.no_grad()
def manual_greedy(model, src: list[int], start: int, n: int) -> tuple[list[int], float]:
    dec = [start]
    gap = math.inf
    x = torch.tensor([src])
    for _ in range(n):
        logits = model(input_ids=x, decoder_input_ids=torch.tensor([dec])).logits[0, -1]
        top = torch.topk(logits, 2).values
        gap = min(gap, float(top[0] - top[1]))
        dec.append(int(logits.argmax()))
    return dec[1:], gap


CONFIG_KEYS = [
    "model_type", "vocab_size", "decoder_vocab_size", "d_model", "encoder_layers", "decoder_layers",
    "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
    "scale_embedding", "normalize_before", "normalize_embedding", "static_position_embeddings",
    "add_final_layer_norm", "activation_function", "max_position_embeddings",
    "share_encoder_decoder_embeddings", "tie_word_embeddings",
    "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "forced_eos_token_id",
]
T5_CONFIG_KEYS = [
    "model_type", "vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
    "relative_attention_num_buckets", "relative_attention_max_distance", "feed_forward_proj", "dense_act_fn",
    "is_gated_act", "layer_norm_epsilon", "dropout_rate", "tie_word_embeddings", "scale_decoder_outputs",
    "pad_token_id", "eos_token_id", "decoder_start_token_id",
]


@torch.no_grad()
def make_golden(d: Path, sources, dec_tails) -> tuple[dict, dict]:
    model = AutoModelForSeq2SeqLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    cfg_json = json.loads((d / "config.json").read_text())
    stored = safetensors.torch.load_file(d / "model.safetensors")
    sd = model.state_dict()
    for k, v in stored.items():  # every stored tensor is loaded unchanged
        assert k in sd, k
        assert torch.equal(v, sd[k]), k
    if "final_logits_bias" in stored:
        assert stored["final_logits_bias"].abs().sum() > 0

    start = model.config.decoder_start_token_id
    decoder_inputs = [[start] + t for t in dec_tails]
    assert [len(s) for s in sources] == SOURCE_LENGTHS
    assert [len(s) for s in decoder_inputs] == DECODER_LENGTHS

    logits, outs = [], []
    for s, dci in zip(sources, decoder_inputs):
        o = model(input_ids=torch.tensor([s]), decoder_input_ids=torch.tensor([dci]),
                  output_attentions=True, output_hidden_states=True)
        logits.append(floats(o.logits[0]))
        outs.append(o)
    # Sanity: lm_head(last decoder hidden state) + final_logits_bias == logits.
    o = outs[0]
    bias = getattr(model, "final_logits_bias", 0)
    t5 = model.config.model_type == "t5"
    if t5:  # T5's last hidden state is after the final norm; the rescale comes before the head
        dec_last = model.decoder(input_ids=torch.tensor([decoder_inputs[0]]), encoder_hidden_states=o.encoder_last_hidden_state).last_hidden_state
        scale = model.config.d_model ** -0.5 if model.config.scale_decoder_outputs else 1.0
        assert torch.allclose(model.lm_head(dec_last * scale), o.logits, atol=1e-5)
    else:
        assert torch.allclose(model.get_output_embeddings()(o.decoder_hidden_states[-1]) + bias, o.logits, atol=1e-5)
    pad = model.config.pad_token_id

    gen_kwargs = dict(
        max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1,
        eos_token_id=None, forced_eos_token_id=None, forced_bos_token_id=None,
        pad_token_id=pad, decoder_start_token_id=start,
    )
    greedy, gaps = [], []
    for s in sources:
        x = torch.tensor([s])
        out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), **gen_kwargs)
        assert out.shape[1] == MAX_NEW_TOKENS + 1 and int(out[0, 0]) == start, out
        new = out[0, 1:].tolist()
        ref, gap = manual_greedy(model, s, start, MAX_NEW_TOKENS)
        assert new == ref, (new, ref)
        greedy.append(new)
        gaps.append(gap)

    width = max(len(s) for s in sources)
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in sources])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sources])
    out = model.generate(input_ids=ids, attention_mask=mask, **gen_kwargs)
    assert out.shape[1] == MAX_NEW_TOKENS + 1 and (out[:, 0] == start).all()
    greedy_batched = out[:, 1:].tolist()

    golden = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "model_type": model.config.model_type,
        "config": {k: cfg_json[k] for k in (T5_CONFIG_KEYS if t5 else CONFIG_KEYS) if k in cfg_json},
        "stored_tensors": {k: list(v.shape) for k, v in stored.items()},
        "generate_kwargs": {k: v for k, v in gen_kwargs.items()},
        "sources": sources,
        "decoder_inputs": decoder_inputs,
        "logits": logits,
        "encoder_last_hidden_state": floats(outs[0].encoder_last_hidden_state[0]),
        "cross_attentions_layer0_example1": floats(outs[1].cross_attentions[0][0]),
        "greedy": greedy,
        "greedy_batched": greedy_batched,
        "greedy_min_gap": min(gaps),
    }
    if t5:
        golden["encoder_attentions_layer0_example1"] = floats(outs[1].encoder_attentions[0][0])
        golden["decoder_attentions_last_example1"] = floats(outs[1].decoder_attentions[-1][0])
        golden["decoder_last_hidden_state_example0"] = floats(dec_last[0])
        # compute_bias(1 query at position 40, 81 keys): relative positions -40..40 through both bucket schemes
        for stack in ("encoder", "decoder"):
            attn = getattr(model, stack).block[0].layer[0].SelfAttention
            golden[f"{stack}_position_bias_q40_k81"] = floats(attn.compute_bias(1, 81, past_seen_tokens=40)[0, :, 0])
    distinct = min(len(set(g)) for g in greedy)
    return golden, {"batched_equal": greedy_batched == greedy, "min_gap": min(gaps), "distinct": distinct}


# ---------------------------------------------------------------------------
def main() -> int:
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"tokenizers {tokenizers.__version__}, safetensors {safetensors.__version__}")
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    raw_tok = train_tokenizer()
    hf_tok = make_hf_tokenizer(raw_tok)
    vocab = raw_tok.get_vocab_size()
    sources, dec_tails, _ = make_inputs(raw_tok)

    if OUT.exists():
        shutil.rmtree(OUT)
    rows = []
    t5_tok = train_tokenizer(T5_SPECIALS, T5_EOS)
    t5_sources, t5_dec_tails, _ = make_inputs(t5_tok, (T5_PAD, T5_EOS, T5_UNK, 3), T5_EOS, T5_UNK)
    assert t5_tok.get_vocab_size() == vocab
    assert [s[:-1] for s in t5_sources] == [s[:-1] for s in sources] and t5_dec_tails == dec_tails
    families = [(build_configs(vocab), sources, dec_tails, hf_tok, lambda cls, config: cls(config), randomize_),
                (build_t5_configs(vocab), t5_sources, t5_dec_tails, make_t5_hf_tokenizer(t5_tok), new_t5, randomize_t5_)]
    for configs, sources, dec_tails, hf_tok, new_model, randomize in families:
        write_family(configs, sources, dec_tails, hf_tok, new_model, randomize, rows)
    summary(rows)
    print(f"\nvocab size {vocab}; sources {sources}; wrote {OUT.relative_to(REPO)}/")
    return 0


def write_family(configs, sources, dec_tails, hf_tok, new_model, randomize, rows) -> None:
    for name, (cls, config, seed0) in configs.items():
        d = OUT / name
        # Pick the seed: the first of SEED_TRIES consecutive seeds whose greedy
        # paths have no near-tie (top1 - top2 >= MIN_GREEDY_GAP) and >= 3 distinct
        # tokens in every example, and different paths for the 3 sources (so the
        # encoder / cross-attention matter); failing that, the seed with most
        # distinct tokens among those meeting the other two conditions.
        best = None
        for seed in range(seed0, seed0 + SEED_TRIES):
            torch.manual_seed(seed)
            model = new_model(cls, config).eval()
            randomize(model, seed)
            paths = [manual_greedy(model, s, config.decoder_start_token_id, MAX_NEW_TOKENS) for s in sources]
            gap = min(g for _, g in paths)
            distinct = min(len(set(p)) for p, _ in paths)
            differ = len({tuple(p) for p, _ in paths}) == len(paths)  # source matters
            if gap >= MIN_GREEDY_GAP and differ and (best is None or distinct > best[1]):
                best = (seed, distinct)
            if best is not None and best[1] >= 3:
                break
        assert best is not None, f"{name}: no seed without near-ties"
        seed = best[0]
        torch.manual_seed(seed)
        model = new_model(cls, config).eval()
        randomize(model, seed)
        if config.model_type == "t5":
            model.generation_config = GenerationConfig(
                eos_token_id=T5_EOS, pad_token_id=T5_PAD, decoder_start_token_id=config.decoder_start_token_id,
            )
        else:
            model.generation_config = GenerationConfig(
                bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                decoder_start_token_id=config.decoder_start_token_id,
            )
        model.save_pretrained(d)
        hf_tok.save_pretrained(d)
        for f in d.iterdir():
            f.chmod(0o644)
        golden, info = make_golden(d, sources, dec_tails)
        assert info["min_gap"] >= MIN_GREEDY_GAP and info["distinct"] == best[1], (info, best)
        golden["seed"] = seed
        (d / "golden.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
        total = sum(f.stat().st_size for f in d.iterdir())
        assert total < 300_000, (name, total)
        print(f"{name}: seed {seed} ({seed - seed0 + 1} tried)", flush=True)
        rows.append((name, seed, total, info, golden))


def summary(rows) -> None:
    for name, seed, total, info, g in rows:
        print(f"\n== {name} (seed {seed}, {total} bytes, batched==greedy {info['batched_equal']}, "
              f"min gap {info['min_gap']:.4f})")
        print("  config:", json.dumps(g["config"]))
        for k, shp in g["stored_tensors"].items():
            print(f"  {k} {shp}")
        print("  greedy        ", g["greedy"])
        print("  greedy_batched", g["greedy_batched"])


if __name__ == "__main__":
    sys.exit(main())
