#!/usr/bin/python3
"""Converts the CTranslate2 "aren-transliteration" test model into an inseq TorchScript bundle.

Usage: convert_ct2_bundle.py FIXTURE_DIR OUT_DIR

FIXTURE_DIR holds `state_dict.pt` (the ct2 variables, "/" replaced by "."), `source_vocabulary.txt` and
`target_vocabulary.txt` (see its SOURCE.md; like ct2, "<unk>" is appended to each vocabulary, which gives
the 51 / 43 rows of the embedding tables). OUT_DIR receives the bundle described in docs/torchscript.md
(encoder-decoder, format_version 1):

  model.torchscript     scripted module exporting embed_source, embed_target, forward_embeds, forward_attentions
  inseq_bundle.json     the sidecar
  tokenizer.json        source tokenizer (WordLevel over source_vocabulary.txt + <unk>, whitespace split)
  target_tokenizer.json target tokenizer (WordLevel over target_vocabulary.txt + <unk>, whitespace split)

The module re-implements ct2's TransformerBase spec: pre-norm layers (LayerNorm eps 1e-6), ReLU FFN,
embeddings scaled by sqrt(d_model), sinusoidal positions starting at 1 with [sin | cos] halves, fused QKV
self-attention, cross-attention with a separate Q and a fused KV projection, final encoder/decoder layer
norms and a projection with bias. Submodules carry the ct2 variable names (`layers.<i>` <-> `layer_<i>`),
so the weights load with a strict `load_state_dict`. The small Linear / LayerNorm / Embeddings modules
below hold no TorchScript constants sets, which keeps the saved archive byte-identical from run to run.
Runs with torch 1.13 (Debian's python3-torch) and newer.
"""

import json
import math
import os
import re
import sys
import time
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

D_MODEL = 32
NUM_HEADS = 8
FFN_DIM = 128
NUM_LAYERS = 6  # encoder and decoder
LN_EPS = 1e-6
MAX_POSITIONS = 256  # recorded in the sidecar; the module itself computes positions for any length
SOURCE = "OpenNMT/CTranslate2 tests/data/models/v2/aren-transliteration"
SPECIAL_TOKENS = ["<blank>", "<s>", "</s>"]  # ids 0, 1, 2 in both vocabularies
UNK_TOKEN = "<unk>"  # ct2's default unk token, appended as the last id when a vocabulary lacks it
# Score given to masked keys; finite so that a fully masked row gives a uniform row instead of NaN.
MASK_VALUE = -1e30


class Linear(nn.Module):
    """y = x W^T + b, parameters named as in ct2 (weight [out, in], bias [out])."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, x: Tensor) -> Tensor:
        # [..., in] -> [..., out]
        return F.linear(x, self.weight, self.bias)


class LayerNorm(nn.Module):
    """LayerNorm over the last dim, ct2 parameter names gamma / beta."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.eps = LN_EPS

    def forward(self, x: Tensor) -> Tensor:
        # [..., d] -> [..., d]
        return F.layer_norm(x, [x.shape[-1]], self.gamma, self.beta, self.eps)


class Embeddings(nn.Module):
    """Embedding table [vocab, d]; returns the rows scaled by sqrt(d) as ct2 does."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(vocab, dim))
        self.scale = math.sqrt(dim)

    def forward(self, ids: Tensor) -> Tensor:
        # [b, n] int64 -> [b, n, d]
        return F.embedding(ids, self.weight) * self.scale


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor, num_heads: int, mask_value: float
           ) -> Tuple[Tensor, Tensor]:
    """Scaled dot-product attention over heads.
    q: [b, nq, d]; k, v: [b, nk, d]; mask: bool [b or 1, nq or 1, nk], True = key may be attended.
    Returns (context [b, nq, d], probabilities [b, h, nq, nk])."""
    b, nq, d = q.shape[0], q.shape[1], q.shape[2]
    nk = k.shape[1]
    dh = d // num_heads
    qh = q.view(b, nq, num_heads, dh).transpose(1, 2) * (dh ** -0.5)  # [b, h, nq, dh], ct2 scales the queries
    kh = k.view(b, nk, num_heads, dh).transpose(1, 2)  # [b, h, nk, dh]
    vh = v.view(b, nk, num_heads, dh).transpose(1, 2)  # [b, h, nk, dh]
    scores = torch.matmul(qh, kh.transpose(-1, -2))  # [b, h, nq, nk]
    scores = scores.masked_fill(~mask.unsqueeze(1), mask_value)
    probs = torch.softmax(scores, dim=-1)  # [b, h, nq, nk]
    ctx = torch.matmul(probs, vh).transpose(1, 2).reshape(b, nq, d)  # [b, nq, d]
    return ctx, probs


class SelfAttention(nn.Module):
    """Pre-norm self-attention: linear_0 = fused QKV [3d, d], linear_1 = output [d, d]."""

    def __init__(self):
        super().__init__()
        self.layer_norm = LayerNorm(D_MODEL)
        self.linear_0 = Linear(D_MODEL, 3 * D_MODEL)
        self.linear_1 = Linear(D_MODEL, D_MODEL)
        self.num_heads = NUM_HEADS
        self.mask_value = MASK_VALUE

    def forward(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        # x: [b, n, d]; mask: bool [b or 1, 1 or n, n] -> (x + attention [b, n, d], probs [b, h, n, n])
        q, k, v = self.linear_0(self.layer_norm(x)).chunk(3, dim=-1)  # 3 x [b, n, d]
        ctx, probs = attend(q, k, v, mask, self.num_heads, self.mask_value)
        return x + self.linear_1(ctx), probs


class CrossAttention(nn.Module):
    """Pre-norm encoder-decoder attention: linear_0 = Q [d, d], linear_1 = fused KV [2d, d] applied to the
    encoder output, linear_2 = output [d, d]."""

    def __init__(self):
        super().__init__()
        self.layer_norm = LayerNorm(D_MODEL)
        self.linear_0 = Linear(D_MODEL, D_MODEL)
        self.linear_1 = Linear(D_MODEL, 2 * D_MODEL)
        self.linear_2 = Linear(D_MODEL, D_MODEL)
        self.num_heads = NUM_HEADS
        self.mask_value = MASK_VALUE

    def forward(self, y: Tensor, memory: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        # y: [b, t, d]; memory: [b, s, d]; mask: bool [b, 1, s] -> (y + attention [b, t, d], probs [b, h, t, s])
        q = self.linear_0(self.layer_norm(y))  # [b, t, d]
        k, v = self.linear_1(memory).chunk(2, dim=-1)  # 2 x [b, s, d]
        ctx, probs = attend(q, k, v, mask, self.num_heads, self.mask_value)
        return y + self.linear_2(ctx), probs


class FeedForward(nn.Module):
    """Pre-norm ReLU FFN: x + linear_1(relu(linear_0(LN(x))))."""

    def __init__(self):
        super().__init__()
        self.layer_norm = LayerNorm(D_MODEL)
        self.linear_0 = Linear(D_MODEL, FFN_DIM)
        self.linear_1 = Linear(FFN_DIM, D_MODEL)

    def forward(self, x: Tensor) -> Tensor:
        # [b, n, d] -> [b, n, d]
        return x + self.linear_1(F.relu(self.linear_0(self.layer_norm(x))))


class EncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attention = SelfAttention()
        self.ffn = FeedForward()

    def forward(self, x: Tensor, key_mask: Tensor) -> Tuple[Tensor, Tensor]:
        # x: [b, s, d]; key_mask: bool [b, 1, s] -> ([b, s, d], probs [b, h, s, s])
        x, probs = self.self_attention(x, key_mask)
        return self.ffn(x), probs


class DecoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attention = SelfAttention()
        self.attention = CrossAttention()
        self.ffn = FeedForward()

    def forward(self, y: Tensor, memory: Tensor, causal: Tensor, source_keys: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        # y: [b, t, d]; memory: [b, s, d]; causal: bool [1, t, t]; source_keys: bool [b, 1, s]
        # -> ([b, t, d], self probs [b, h, t, t], cross probs [b, h, t, s])
        y, self_probs = self.self_attention(y, causal)
        y, cross_probs = self.attention(y, memory, source_keys)
        return self.ffn(y), self_probs, cross_probs


class Encoder(nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.embeddings = Embeddings(vocab, D_MODEL)
        self.layers = nn.ModuleList([EncoderLayer() for _ in range(NUM_LAYERS)])
        self.layer_norm = LayerNorm(D_MODEL)


class Decoder(nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.embeddings = Embeddings(vocab, D_MODEL)
        self.layers = nn.ModuleList([DecoderLayer() for _ in range(NUM_LAYERS)])
        self.layer_norm = LayerNorm(D_MODEL)
        self.projection = Linear(D_MODEL, vocab)


class Ct2Transformer(nn.Module):
    """ct2 TransformerBase encoder-decoder implementing the inseq encoder-decoder bundle contract."""

    def __init__(self, source_vocab: int, target_vocab: int):
        super().__init__()
        self.encoder = Encoder(source_vocab)
        self.decoder = Decoder(target_vocab)
        half = D_MODEL // 2
        # inv_timescale_i = exp(-i * ln(10000) / (half - 1)), i = 0 .. half-1
        inv = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / (half - 1)))
        self.register_buffer("inv_timescales", inv, persistent=False)  # [d/2]

    def _positions(self, n: int) -> Tensor:
        # Sinusoidal encoding for positions 1..n as [sin | cos] halves: [n, d]
        pos = torch.arange(1, n + 1, dtype=torch.float32, device=self.inv_timescales.device)  # [n]
        angles = pos.unsqueeze(1) * self.inv_timescales.unsqueeze(0)  # [n, d/2]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)

    @torch.jit.export
    def embed_source(self, source_ids: Tensor) -> Tensor:
        # [b, s] int64 -> [b, s, d], including the sqrt(d) scale (positions are added in forward_*)
        return self.encoder.embeddings(source_ids)

    @torch.jit.export
    def embed_target(self, target_ids: Tensor) -> Tensor:
        # [b, t] int64 -> [b, t, d], including the sqrt(d) scale (positions are added in forward_*)
        return self.decoder.embeddings(target_ids)

    def _run(self, source_embeds: Tensor, source_mask: Tensor, target_embeds: Tensor
             ) -> Tuple[Tensor, List[Tensor], List[Tensor], List[Tensor]]:
        """Returns (logits [b, t, V], cross [b, h, t, s] per layer, decoder self [b, h, t, t] per layer,
        encoder self [b, h, s, s] per layer)."""
        s = source_embeds.shape[1]
        t = target_embeds.shape[1]
        source_keys = (source_mask != 0).unsqueeze(1)  # bool [b, 1, s]
        causal = torch.ones(t, t, dtype=torch.bool, device=target_embeds.device).tril().unsqueeze(0)  # [1, t, t]

        x = source_embeds + self._positions(s).unsqueeze(0)  # [b, s, d]
        encoder_self: List[Tensor] = []
        for layer in self.encoder.layers:
            x, probs = layer(x, source_keys)
            encoder_self.append(probs)
        memory = self.encoder.layer_norm(x)  # [b, s, d]

        y = target_embeds + self._positions(t).unsqueeze(0)  # [b, t, d]
        decoder_self: List[Tensor] = []
        cross: List[Tensor] = []
        for layer in self.decoder.layers:
            y, self_probs, cross_probs = layer(y, memory, causal, source_keys)
            decoder_self.append(self_probs)
            cross.append(cross_probs)
        logits = self.decoder.projection(self.decoder.layer_norm(y))  # [b, t, V]
        return logits, cross, decoder_self, encoder_self

    @torch.jit.export
    def forward_embeds(self, source_embeds: Tensor, source_mask: Tensor, target_embeds: Tensor) -> Tensor:
        # ([b, s, d], [b, s] int64, [b, t, d]) -> logits [b, t, V]; row k predicts target token k + 1
        logits, _, _, _ = self._run(source_embeds, source_mask, target_embeds)
        return logits

    @torch.jit.export
    def forward_attentions(self, source_embeds: Tensor, source_mask: Tensor, target_embeds: Tensor
                           ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        # -> (logits [b, t, V], cross [L, b, h, t, s], decoder_self [L, b, h, t, t], encoder_self [L, b, h, s, s])
        logits, cross, decoder_self, encoder_self = self._run(source_embeds, source_mask, target_embeds)
        return logits, torch.stack(cross), torch.stack(decoder_self), torch.stack(encoder_self)

    def forward(self, source_ids: Tensor, source_mask: Tensor, target_ids: Tensor) -> Tensor:
        # Convenience entry point on ids: ([b, s], [b, s], [b, t]) -> logits [b, t, V]
        return self.forward_embeds(self.embed_source(source_ids), source_mask, self.embed_target(target_ids))


def load_weights(model: Ct2Transformer, state: Dict[str, Tensor]) -> None:
    """Loads the ct2 variables (strict: every parameter and every variable used, shapes checked)."""
    renamed = {}
    for name in model.state_dict():
        ct2_name = re.sub(r"\.layers\.(\d+)\.", r".layer_\1.", name)  # encoder.layers.0.x -> encoder.layer_0.x
        if ct2_name not in state:
            raise ValueError(f"state_dict lacks {ct2_name} (for {name})")
        renamed[name] = state[ct2_name].to(torch.float32)
    unused = sorted(set(state) - {re.sub(r"\.layers\.(\d+)\.", r".layer_\1.", n) for n in renamed})
    if unused:
        raise ValueError(f"unused state_dict entries: {unused}")
    model.load_state_dict(renamed, strict=True)


def read_vocab(path: str) -> List[str]:
    """Reads a ct2 text vocabulary (one token per line, line number = id) and, like ct2's Vocabulary,
    appends "<unk>" when the file lacks it: the embedding tables of this model have that extra last row."""
    with open(path, encoding="utf-8", newline="\n") as f:
        tokens = f.read().split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()  # trailing newline
    if tokens[:3] != SPECIAL_TOKENS:
        raise ValueError(f"{path}: expected {SPECIAL_TOKENS} as ids 0..2, found {tokens[:3]}")
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"{path}: duplicate tokens")
    if UNK_TOKEN not in tokens:
        tokens.append(UNK_TOKEN)
    return tokens


def tokenizer_json(tokens: List[str]) -> dict:
    """Hugging Face tokenizers JSON: WordLevel over `tokens` (id = line number), whitespace split,
    no normalizer / post-processor / decoder (decoding then joins tokens with spaces).
    <blank>, <s>, </s> and <unk> are added special tokens."""
    specials = SPECIAL_TOKENS + [UNK_TOKEN]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": tokens.index(tok), "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for tok in specials
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {tok: i for i, tok in enumerate(tokens)}, "unk_token": UNK_TOKEN},
    }


def write_json(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def convert(fixture_dir: str, out_dir: str) -> Dict[str, float]:
    start = time.perf_counter()
    state = torch.load(os.path.join(fixture_dir, "state_dict.pt"), map_location="cpu")
    source_tokens = read_vocab(os.path.join(fixture_dir, "source_vocabulary.txt"))
    target_tokens = read_vocab(os.path.join(fixture_dir, "target_vocabulary.txt"))

    model = Ct2Transformer(len(source_tokens), len(target_tokens))
    load_weights(model, state)
    model.eval()
    scripted = torch.jit.script(model)
    os.makedirs(out_dir, exist_ok=True)
    torch.jit.save(scripted, os.path.join(out_dir, "model.torchscript"))

    write_json(os.path.join(out_dir, "tokenizer.json"), tokenizer_json(source_tokens))
    write_json(os.path.join(out_dir, "target_tokenizer.json"), tokenizer_json(target_tokens))
    write_json(os.path.join(out_dir, "inseq_bundle.json"), {
        "format": "inseq-torchscript-bundle",
        "format_version": 1,
        "model_kind": "encoder-decoder",
        "model_type": "ct2-transformer",
        "vocab_size": len(target_tokens),
        "source_vocab_size": len(source_tokens),
        "hidden_size": D_MODEL,
        "num_layers": NUM_LAYERS,
        "num_heads": NUM_HEADS,
        "encoder_layers": NUM_LAYERS,
        "embed_scale": math.sqrt(D_MODEL),
        "max_positions": MAX_POSITIONS,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "unk_token_id": target_tokens.index(UNK_TOKEN),
        "decoder_start_token_id": 1,
        "methods": ["embed_source", "embed_target", "forward_embeds", "forward_attentions"],
        "torch_version": torch.__version__,
        "source": SOURCE,
    })
    return {"seconds": time.perf_counter() - start}


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} FIXTURE_DIR OUT_DIR", file=sys.stderr)
        return 2
    info = convert(argv[1], argv[2])
    print(f"wrote bundle to {argv[2]} in {info['seconds']:.2f} s (torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
