#!/usr/bin/env python3
"""Export a Hugging Face causal LM or seq2seq LM to an inseq TorchScript bundle.

The bundle layout and the method contract are described in docs/torchscript.md. Usage:

    tools/export-torchscript MODEL OUT_DIR [--kind auto|decoder-only|encoder-decoder]
                             [--no-attentions] [--max-positions N]

MODEL is a Hugging Face hub id or a local model directory. Needs `torch` and `transformers`.

How the export works:

1. The model is loaded in float32, eval mode, with `attn_implementation="eager"` (eager attention returns
   attention weights and keeps `aten::scaled_dot_product_attention` out of the graph).
2. A wrapper module implements the contract methods by calling the Hugging Face model with
   `inputs_embeds` / `decoder_inputs_embeds` and the 2-D padding mask (transformers builds its own 4-D mask,
   so sliding windows and other per-model mask rules stay intact).
3. Where the embeddings get scaled is found by experiment (see `resolve_embedding`): the `embed*` methods
   return the embeddings the model consumes, scale included, and `forward_embeds` never scales twice.
4. The wrapper is traced with `torch.jit.trace_module`; each method's graph is then inlined and the device
   constants that tracing bakes in (`device="cpu"`) are replaced by the device of the method's first input,
   so the bundle also runs when LibTorch loads it onto a GPU.
5. The module, sidecar and tokenizer files are written to a temporary directory next to OUT_DIR, the saved
   module is loaded back and checked against the Hugging Face model run from token ids (several lengths,
   batch sizes 1 and 3 with right padding, attentions and gradients), and only then is the directory renamed
   to OUT_DIR. A failed export leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

FORMAT = "inseq-torchscript-bundle"
FORMAT_VERSION = 1
MODULE_FILE = "model.torchscript"
SIDECAR_FILE = "inseq_bundle.json"
TOKENIZER_FILE = "tokenizer.json"
TARGET_TOKENIZER_FILE = "target_tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

DECODER_ONLY = "decoder-only"
ENCODER_DECODER = "encoder-decoder"
DECODER_ONLY_METHODS = ["embed", "forward_embeds", "forward_attentions"]
ENCODER_DECODER_METHODS = ["embed_source", "embed_target", "forward_embeds", "forward_attentions"]

# Attribute names under which a model's decoder / encoder stack keeps a factor it multiplies its input
# embeddings by (Marian, Pegasus, FSMT: `embed_scale`; Granite: `embedding_multiplier`).
STACK_SCALE_ATTRS = ("embed_scale", "embedding_multiplier")

# Operators that LibTorch 1.13 (the library's default build) does not know; a graph with one of them loads
# only in a newer LibTorch. Eager attention keeps the first ones out of transformers' graphs.
OPS_NEWER_THAN_1_13 = {
    "aten::scaled_dot_product_attention": "2.0",
    "aten::_scaled_dot_product_flash_attention": "2.0",
    "aten::_scaled_dot_product_efficient_attention": "2.0",
    "aten::rms_norm": "2.4",
    "aten::_safe_softmax": "2.5",
}

# The exporter's own check against transformers (the test script checks at 1e-5).
VERIFY_RTOL = 1e-4
VERIFY_ATOL = 1e-4


class ExportError(RuntimeError):
    """The model cannot be exported (or the exported module does not reproduce it)."""


def log(msg: str) -> None:
    print(f"[export-torchscript] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------


def _dtype_kwarg() -> str:
    """transformers >= 4.56 calls it `dtype`, older releases `torch_dtype`."""
    import transformers

    try:
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    except ValueError:
        return "dtype"
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load_hf_model(model_id: str, kind: str = "auto", trust_remote_code: bool = False):
    """Load MODEL in float32, eval mode, eager attention. Returns (model, kind)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = AutoConfig.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    is_enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    if kind == "auto":
        kind = ENCODER_DECODER if is_enc_dec else DECODER_ONLY
    elif kind == DECODER_ONLY and is_enc_dec:
        raise ExportError(f"{model_id} is an encoder-decoder model (config.is_encoder_decoder); use --kind encoder-decoder")
    elif kind == ENCODER_DECODER and not is_enc_dec:
        raise ExportError(f"{model_id} is not an encoder-decoder model; use --kind decoder-only")
    auto_cls = AutoModelForSeq2SeqLM if kind == ENCODER_DECODER else AutoModelForCausalLM
    kwargs = {"attn_implementation": "eager", _dtype_kwarg(): torch.float32, "trust_remote_code": trust_remote_code}
    try:
        model = auto_cls.from_pretrained(model_id, **kwargs)
    except ValueError as e:
        raise ExportError(f"cannot load {model_id} as a {kind} LM with eager attention: {e}") from e
    model = model.float().eval()
    for p in model.parameters():  # attribution differentiates w.r.t. the embeddings only
        p.requires_grad_(False)
    return model, kind


# ---------------------------------------------------------------------------------------------------------
# Where the embedding scale lives
# ---------------------------------------------------------------------------------------------------------


@dataclass
class EmbeddingSpec:
    """How one side's token embeddings are computed and fed back to the model.

    embed(ids)          = module(ids) * extra_scale          (what the bundle returns and inseq attributes)
    inputs_embeds given = embeds / divide                      (what the Hugging Face forward then receives)
    """

    module: nn.Module
    extra_scale: float = 1.0
    divide: float = 1.0
    module_scale: float = 1.0  # the factor `module` itself applies (transformers' *ScaledWordEmbedding)

    @property
    def total_scale(self) -> float:
        return self.module_scale * self.extra_scale


def _as_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1 and v.is_floating_point():
        return float(v.item())
    return None


def _stack_scale(stack: nn.Module) -> tuple[str, float] | None:
    for name in STACK_SCALE_ATTRS:
        v = _as_float(getattr(stack, name, None))
        if v is not None and v != 1.0:
            return name, v
    return None


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = VERIFY_RTOL, atol: float = VERIFY_ATOL) -> bool:
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(b.abs().max())) if b.numel() else 1.0
    return bool(torch.allclose(a, b, rtol=rtol, atol=atol * scale))


def resolve_embedding(
    embed_module: nn.Module,
    stack: nn.Module,
    ids: torch.Tensor,
    reference: torch.Tensor,
    run_with_embeds: Callable[[torch.Tensor], torch.Tensor],
    side: str,
) -> EmbeddingSpec:
    """Find how `stack` treats `inputs_embeds`, so that embed() returns what the model really consumes.

    transformers >= 5 folds most scales into the embedding module (`*ScaledWordEmbedding.embed_scale`), but
    some stacks multiply by `self.embed_scale` themselves: Marian's decoder does so for ids and inputs_embeds
    alike, Marian's encoder only for ids. Both are detected here by running the model:
    - `reference`: logits from token ids;
    - `run_with_embeds(x)`: logits with this side's inputs_embeds = x (the other side from ids).
    """
    with torch.no_grad():
        raw = embed_module(ids)  # [b, n, hidden]
        module_scale = _as_float(getattr(embed_module, "embed_scale", None)) or 1.0
        found = _stack_scale(stack)
        extra, divide = 1.0, 1.0
        if found is not None:
            name, s = found
            base = run_with_embeds(raw)
            original = getattr(stack, name)
            setattr(stack, name, torch.ones_like(original) if isinstance(original, torch.Tensor) else 1.0)
            try:
                unscaled = run_with_embeds(raw)
            finally:
                setattr(stack, name, original)
            if not _close(base, unscaled, rtol=0, atol=1e-7):
                # The stack multiplies whatever inputs_embeds it gets by s (Marian's decoder): attribute the
                # scaled embeddings and hand the model embeds / s.
                extra, divide = s, s
            elif _close(run_with_embeds(raw * s), reference):
                # The stack scales ids only (Marian's encoder): inputs_embeds must arrive already scaled.
                extra, divide = s, 1.0
        spec = EmbeddingSpec(embed_module, extra_scale=extra, divide=divide, module_scale=module_scale)
        got = run_with_embeds(raw * spec.extra_scale / spec.divide)
        if not _close(got, reference):
            diff = float((got - reference).abs().max())
            raise ExportError(
                f"the {side} embeddings cannot be reproduced: the model run with inputs_embeds differs from the "
                f"model run with token ids by {diff:.3g} (a model that does more than an embedding lookup "
                f"and a scale on its input ids cannot be exported)"
            )
    return spec


# ---------------------------------------------------------------------------------------------------------
# The wrapper modules (the contract of docs/torchscript.md)
# ---------------------------------------------------------------------------------------------------------


class DecoderOnlyBundle(nn.Module):
    """embed / forward_embeds / forward_attentions for a causal LM."""

    def __init__(self, model: nn.Module, embed: EmbeddingSpec):
        super().__init__()
        self.model = model
        self.embed_tokens = embed.module
        self.extra_scale = float(embed.extra_scale)
        self.divide = float(embed.divide)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        e = self.embed_tokens(input_ids)  # [b, n, hidden]
        if self.extra_scale != 1.0:
            e = e * self.extra_scale
        return e

    def _inputs(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return inputs_embeds / self.divide if self.divide != 1.0 else inputs_embeds  # [b, n, hidden]

    def forward_embeds(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(inputs_embeds=self._inputs(inputs_embeds), attention_mask=attention_mask, use_cache=False, return_dict=True)
        return out.logits  # [b, n, vocab]

    def forward_attentions(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor):
        out = self.model(
            inputs_embeds=self._inputs(inputs_embeds),
            attention_mask=attention_mask,
            use_cache=False,
            output_attentions=True,
            return_dict=True,
        )
        # logits [b, n, vocab]; attentions [layers, b, heads, n, n]
        return out.logits, torch.stack(tuple(out.attentions), 0)


class EncoderDecoderBundle(nn.Module):
    """embed_source / embed_target / forward_embeds / forward_attentions for a seq2seq LM."""

    def __init__(self, model: nn.Module, source: EmbeddingSpec, target: EmbeddingSpec):
        super().__init__()
        self.model = model
        self.source_embed_tokens = source.module
        self.target_embed_tokens = target.module
        self.source_extra = float(source.extra_scale)
        self.source_divide = float(source.divide)
        self.target_extra = float(target.extra_scale)
        self.target_divide = float(target.divide)

    def embed_source(self, source_ids: torch.Tensor) -> torch.Tensor:
        e = self.source_embed_tokens(source_ids)  # [b, s, hidden]
        if self.source_extra != 1.0:
            e = e * self.source_extra
        return e

    def embed_target(self, target_ids: torch.Tensor) -> torch.Tensor:
        e = self.target_embed_tokens(target_ids)  # [b, t, hidden]
        if self.target_extra != 1.0:
            e = e * self.target_extra
        return e

    def _run(self, source_embeds, source_mask, target_embeds, output_attentions: bool):
        src = source_embeds / self.source_divide if self.source_divide != 1.0 else source_embeds  # [b, s, hidden]
        tgt = target_embeds / self.target_divide if self.target_divide != 1.0 else target_embeds  # [b, t, hidden]
        kwargs = {"output_attentions": True} if output_attentions else {}
        return self.model(
            inputs_embeds=src,
            attention_mask=source_mask,
            decoder_inputs_embeds=tgt,
            use_cache=False,
            return_dict=True,
            **kwargs,
        )

    def forward_embeds(self, source_embeds: torch.Tensor, source_mask: torch.Tensor, target_embeds: torch.Tensor) -> torch.Tensor:
        return self._run(source_embeds, source_mask, target_embeds, False).logits  # [b, t, vocab]

    def forward_attentions(self, source_embeds: torch.Tensor, source_mask: torch.Tensor, target_embeds: torch.Tensor):
        out = self._run(source_embeds, source_mask, target_embeds, True)
        return (
            out.logits,  # [b, t, vocab]
            torch.stack(tuple(out.cross_attentions), 0),  # [layers, b, heads, t, s]
            torch.stack(tuple(out.decoder_attentions), 0),  # [layers, b, heads, t, t]
            torch.stack(tuple(out.encoder_attentions), 0),  # [encoder_layers, b, heads, s, s]
        )


# ---------------------------------------------------------------------------------------------------------
# Example inputs
# ---------------------------------------------------------------------------------------------------------


def _special_id_set(model) -> set[int]:
    out: set[int] = set()
    for src in (model.config, getattr(model, "generation_config", None)):
        if src is None:
            continue
        for key in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "unk_token_id"):
            v = getattr(src, key, None)
            for x in v if isinstance(v, (list, tuple)) else [v]:
                if isinstance(x, int):
                    out.add(x)
    return out


class IdSampler:
    """Deterministic random token ids that avoid the special tokens (positions of some models, M2M-100 for
    one, depend on where the pad token is, so the checks keep it out of real rows)."""

    def __init__(self, vocab: int, avoid: set[int], seed: int = 0):
        ok = [i for i in range(min(vocab, 100_000)) if i not in avoid]
        self.pool = torch.tensor(ok if ok else list(range(vocab)), dtype=torch.long)
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, b: int, n: int) -> torch.Tensor:
        idx = torch.randint(0, len(self.pool), (b, n), generator=self.gen)
        return self.pool[idx]  # [b, n] int64


def right_padding_mask(lengths: list[int], n: int) -> torch.Tensor:
    mask = torch.zeros(len(lengths), n, dtype=torch.long)  # [b, n]
    for i, length in enumerate(lengths):
        mask[i, :length] = 1
    return mask


# ---------------------------------------------------------------------------------------------------------
# Tracing
# ---------------------------------------------------------------------------------------------------------


def _make_device_generic(module: torch.jit.ScriptModule, methods: list[str]) -> int:
    """Inline each method's graph and replace `prim::Constant[value="cpu"]` devices by `prim::device` of the
    method's first tensor input. Tracing on the CPU bakes the CPU in (`torch.arange(n, device=x.device)` is
    recorded with a constant device); LibTorch loading the bundle onto a GPU would then mix devices."""
    replaced = 0
    for name in methods:
        graph = getattr(module, name).graph
        torch._C._jit_pass_inline(graph)
        anchor = None
        for v in list(graph.inputs())[1:]:  # [0] is self
            if v.type().kind() == "TensorType":
                anchor = v
                break
        if anchor is None:
            continue
        device_node = None
        for node in list(graph.nodes()):
            if node.kind() != "prim::Constant" or node.output().type().kind() != "DeviceObjType":
                continue
            if device_node is None:
                device_node = graph.create("prim::device", [anchor], 1)
                device_node.output().setType(node.output().type())
                device_node.insertBefore(node)  # the anchor is a graph input, so this is early enough
            node.output().replaceAllUsesWith(device_node.output())
            node.destroy()
            replaced += 1
    return replaced


def _graph_report(module: torch.jit.ScriptModule, methods: list[str]) -> dict[str, Any]:
    """Operators used, device constants left, tensor constants (for the docs / debugging)."""
    ops: set[str] = set()
    devices: list[str] = []
    for name in methods:
        graph = getattr(module, name).graph
        for node in graph.nodes():
            ops.add(node.kind())
            if node.kind() == "prim::Constant" and node.output().type().kind() == "DeviceObjType":
                devices.append(f"{name}: {node}")
    return {"ops": sorted(ops), "device_constants": devices}


def trace_bundle(wrapper: nn.Module, methods: list[str], example: dict[str, tuple]) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        # transformers' mask helpers compare sizes in Python; that is intended (see the length checks below)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        traced = torch.jit.trace_module(wrapper, {m: example[m] for m in methods}, check_trace=False)
    replaced = _make_device_generic(traced, methods)
    left = _graph_report(traced, methods)["device_constants"]
    if left:
        raise ExportError("device constants left in the traced graph: " + "; ".join(left))
    if replaced:
        log(f"replaced {replaced} baked-in device constant(s) by the input's device")
    newer = sorted(op for op in _graph_report(traced, methods)["ops"] if op in OPS_NEWER_THAN_1_13)
    if newer:
        need = max(OPS_NEWER_THAN_1_13[op] for op in newer)
        log(f"warning: the graph uses {', '.join(newer)}: the bundle needs LibTorch >= {need} (1.13 cannot load it)")
    return traced


def _save(module: torch.jit.ScriptModule, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        torch.jit.save(module, str(path))


def _load(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        m = torch.jit.load(str(path), map_location="cpu")
    m.eval()
    return m


# ---------------------------------------------------------------------------------------------------------
# Sidecar
# ---------------------------------------------------------------------------------------------------------


def _first_attr(objs, names) -> Any:
    for o in objs:
        if o is None:
            continue
        for n in names:
            v = getattr(o, n, None)
            if v is not None:
                return v
    return None


def config_max_positions(config, kind: str) -> int | None:
    cfgs = [config]
    if kind == DECODER_ONLY and hasattr(config, "get_text_config"):
        cfgs.insert(0, config.get_text_config())
    if kind == ENCODER_DECODER:
        src = _first_attr(cfgs, ["max_source_positions"])
        tgt = _first_attr(cfgs, ["max_target_positions"])
        if isinstance(src, int) and isinstance(tgt, int):
            return min(src, tgt)
    v = _first_attr(cfgs, ["max_position_embeddings", "n_positions", "max_positions", "n_ctx"])
    return int(v) if isinstance(v, int) and v > 0 else None


def special_token_ids(model, tokenizer) -> dict[str, Any]:
    config, gen = model.config, getattr(model, "generation_config", None)
    out: dict[str, Any] = {}
    for key in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "decoder_start_token_id"):
        v = None
        for src in (config, gen, tokenizer):
            if src is None:
                continue
            v = getattr(src, key, None)
            if v is not None:
                break
        if isinstance(v, (list, tuple)):
            v = [int(x) for x in v]
            v = v[0] if len(v) == 1 else v
        elif v is not None:
            v = int(v)
        out[key] = v
    return out


def build_sidecar(
    model,
    kind: str,
    model_id: str,
    tokenizer,
    methods: list[str],
    shapes: dict[str, int],
    embed_scales: dict[str, float],
    max_positions: int | None,
) -> dict[str, Any]:
    import transformers

    ids = special_token_ids(model, tokenizer)
    sidecar: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_kind": kind,
        "model_type": getattr(model.config, "model_type", None) or "unknown",
        "vocab_size": shapes["vocab_size"],
    }
    if kind == ENCODER_DECODER:
        sidecar["source_vocab_size"] = shapes["source_vocab_size"]
    sidecar["hidden_size"] = shapes["hidden_size"]
    sidecar["num_layers"] = shapes["num_layers"]
    sidecar["num_heads"] = shapes["num_heads"]
    if kind == ENCODER_DECODER:
        sidecar["encoder_layers"] = shapes["encoder_layers"]
        if shapes.get("encoder_heads") not in (None, shapes["num_heads"]):
            sidecar["encoder_heads"] = shapes["encoder_heads"]
        sidecar["embed_scale"] = embed_scales["target"]
        if embed_scales["source"] != embed_scales["target"]:
            sidecar["source_embed_scale"] = embed_scales["source"]
    else:
        sidecar["embed_scale"] = embed_scales["target"]
    sidecar["max_positions"] = max_positions
    sidecar["bos_token_id"] = ids["bos_token_id"]
    sidecar["eos_token_id"] = ids["eos_token_id"]
    sidecar["pad_token_id"] = ids["pad_token_id"]
    sidecar["unk_token_id"] = ids["unk_token_id"]
    if kind == ENCODER_DECODER:
        sidecar["decoder_start_token_id"] = ids["decoder_start_token_id"]
    sidecar["methods"] = list(methods)
    sidecar["torch_version"] = torch.__version__
    sidecar["transformers_version"] = transformers.__version__
    sidecar["source"] = model_id

    # Ids outside the tables would make the bundle unloadable: required ones are errors, optional ones dropped.
    vocab = sidecar["vocab_size"]
    src_vocab = sidecar.get("source_vocab_size", vocab)
    limits = {"bos_token_id": src_vocab if kind == ENCODER_DECODER else vocab, "eos_token_id": vocab, "pad_token_id": vocab,
              "unk_token_id": src_vocab, "decoder_start_token_id": vocab}
    for key, limit in limits.items():
        if key not in sidecar or sidecar[key] is None:
            continue
        vals = sidecar[key] if isinstance(sidecar[key], list) else [sidecar[key]]
        good = [v for v in vals if 0 <= v < limit]
        if len(good) != len(vals):
            if key in ("decoder_start_token_id", "pad_token_id") and kind == ENCODER_DECODER:
                raise ExportError(f"{key} {sidecar[key]} is outside the vocabulary of {limit} tokens")
            log(f"warning: dropping {key} {sidecar[key]}: outside the vocabulary of {limit} tokens")
            sidecar[key] = (good if len(good) > 1 else good[0]) if good else None
    if kind == ENCODER_DECODER:
        if sidecar["decoder_start_token_id"] is None:
            raise ExportError("the model has no decoder_start_token_id (config or generation_config)")
        if sidecar["pad_token_id"] is None:
            raise ExportError("the model has no pad_token_id, which encoder-decoder bundles need for source padding")
    return sidecar


# ---------------------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------------------


def _fetch_file(model_id: str, name: str) -> Path | None:
    """A file of the model directory or hub repo, or None where it has none."""
    local = Path(model_id)
    if local.is_dir():
        p = local / name
        return p if p.is_file() else None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(model_id, name))
    except Exception:  # missing entry, offline, ...
        return None


# Prefix that keeps a piece out of reach of the segmentation (a private-use character that normalized text
# does not contain); the decoder strips it again.
UNREACHABLE_PREFIX = "\ue000"


def _spm_unigram_tokenizer(spm_path: str, vocab: dict[str, int], unk: str, eos: str, specials: list[str]):
    """A `tokenizers` Unigram tokenizer that segments like SentencePiece model `spm_path` but numbers the pieces
    by `vocab` (Marian keeps a vocab.json apart from its .spm files, so the SentencePiece ids are not the
    model's). Pieces of `vocab` that the .spm model lacks (the other language's pieces) must never be chosen:
    SentencePiece emits <unk> where only they would fit. They are stored behind UNREACHABLE_PREFIX, which the
    decoder removes, so decoding their ids still gives their text."""
    from tokenizers import AddedToken, decoders, processors
    from tokenizers.models import Unigram
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    if not hasattr(SpmConverter, "build_tokenizer_from_spm_proto"):
        raise ExportError("converting a SentencePiece tokenizer needs transformers >= 5 (SpmConverter.build_tokenizer_from_spm_proto)")
    model_pb2 = import_protobuf()
    proto = model_pb2.ModelProto()
    with open(spm_path, "rb") as f:
        proto.ParseFromString(f.read())
    if proto.trainer_spec.model_type != 1:
        raise ExportError(f"{spm_path} is not a unigram SentencePiece model")
    # Normalizer, pre-tokenizer and decoder as transformers builds them from the .spm (SpmConverter), with the
    # SentencePiece-ordered vocabulary it expects; the model is then swapped for one in the model's numbering.
    spm_vocab = [(p.piece, p.score) for p in proto.pieces]
    tok = SpmConverter.build_tokenizer_from_spm_proto(proto, spm_vocab, legacy=True)
    if tok is None:
        raise ExportError(f"transformers cannot convert {spm_path}")
    scores = {p.piece: p.score for p in proto.pieces if p.type in (1, 4)}  # normal and user-defined pieces
    low = min(scores.values()) - 100.0
    keep = set(specials) | {unk}
    size = max(vocab.values()) + 1
    id_to_piece = {i: t for t, i in vocab.items()}
    entries = []
    for i in range(size):
        piece = id_to_piece.get(i)
        if piece is None:
            entries.append((f"{UNREACHABLE_PREFIX}<unused_{i}>", low))
        elif piece in scores or piece in keep:
            entries.append((piece, float(scores.get(piece, low))))
        else:
            entries.append((UNREACHABLE_PREFIX + piece, low))
    tok.model = Unigram(entries, unk_id=vocab[unk], byte_fallback=False)
    tok.decoder = decoders.Sequence([decoders.Replace(UNREACHABLE_PREFIX, ""), tok.decoder])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials if t in vocab])
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A:0 {eos}:0", pair=f"$A:0 $B:1 {eos}:1", special_tokens=[(eos, vocab[eos])]
    )
    return tok


def _marian_tokenizers(tok) -> tuple[Any, Any | None]:
    """(source, target or None) `tokenizers` objects for a MarianTokenizer (SentencePiece + vocab.json)."""
    unk, eos, pad = str(tok.unk_token), str(tok.eos_token), str(tok.pad_token)
    encoder = dict(tok.encoder)
    codes = [t for t in encoder if t.startswith(">>") and t.endswith("<<")]
    specials = [eos, unk, pad] + codes
    src_spm, tgt_spm = tok.spm_files
    source = _spm_unigram_tokenizer(src_spm, encoder, unk, eos, specials)
    same_spm = Path(src_spm).read_bytes() == Path(tgt_spm).read_bytes()
    if same_spm and not tok.separate_vocabs:
        return source, None
    tgt_vocab = dict(tok.target_encoder) if tok.separate_vocabs else encoder
    target = _spm_unigram_tokenizer(tgt_spm, tgt_vocab, unk, eos, specials)  # MarianTokenizer strips codes on both sides
    return source, target


def _check_marian_conversion(tok, source, target) -> None:
    samples = [
        "Hello world.",
        "  The quick brown fox jumps over the lazy dog!  ",
        "It's 12:30 - time for lunch, isn't it?",
        "Naïve café owners said: \"Zürich's façade is 3.5 m tall.\"",
    ]
    bad = []
    for text in samples:
        want = tok(text)["input_ids"]
        got = source.encode(text).ids
        if want != got:
            bad.append(f"source {text!r}: transformers {want} vs tokenizer.json {got}")
        if target is not None:
            want = tok(text_target=text)["input_ids"]
            got = target.encode(text).ids
            if want != got:
                bad.append(f"target {text!r}: transformers {want} vs target_tokenizer.json {got}")
    if bad:
        log("warning: the converted SentencePiece tokenizer differs from transformers' MarianTokenizer on:\n  " + "\n  ".join(bad))


def write_tokenizers(model_id: str, tokenizer, out: Path, trust_remote_code: bool = False) -> list[str]:
    """tokenizer.json (+ target_tokenizer.json, tokenizer_config.json) into `out`. Returns the names written."""
    written = []
    tj = _fetch_file(model_id, TOKENIZER_FILE)
    tc = _fetch_file(model_id, TOKENIZER_CONFIG_FILE)
    if tj is not None:
        shutil.copyfile(tj, out / TOKENIZER_FILE)
        written.append(TOKENIZER_FILE)
        ttj = _fetch_file(model_id, TARGET_TOKENIZER_FILE)
        if ttj is not None:
            shutil.copyfile(ttj, out / TARGET_TOKENIZER_FILE)
            written.append(TARGET_TOKENIZER_FILE)
    else:
        if tokenizer is None:
            raise ExportError(f"{model_id} has no tokenizer.json and no tokenizer transformers can load")
        backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
        target = None
        if backend is not None and hasattr(backend, "to_str"):
            source = backend
        elif type(tokenizer).__name__ == "MarianTokenizer":
            source, target = _marian_tokenizers(tokenizer)
            _check_marian_conversion(tokenizer, source, target)
        else:
            try:
                from transformers.convert_slow_tokenizer import convert_slow_tokenizer

                source = convert_slow_tokenizer(tokenizer)
            except Exception as e:
                raise ExportError(f"{model_id} has no tokenizer.json and its {type(tokenizer).__name__} cannot be converted: {e}") from e
        source.save(str(out / TOKENIZER_FILE))
        written.append(TOKENIZER_FILE)
        if target is not None:
            target.save(str(out / TARGET_TOKENIZER_FILE))
            written.append(TARGET_TOKENIZER_FILE)
    if tc is not None:
        shutil.copyfile(tc, out / TOKENIZER_CONFIG_FILE)
        written.append(TOKENIZER_CONFIG_FILE)
    elif tokenizer is not None:
        cfg: dict[str, Any] = {"tokenizer_class": "PreTrainedTokenizerFast"}
        for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
            v = getattr(tokenizer, key, None)
            if v is not None:
                cfg[key] = str(v)
        mml = getattr(tokenizer, "model_max_length", None)
        if isinstance(mml, int) and mml < 10**12:
            cfg["model_max_length"] = mml
        (out / TOKENIZER_CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
        written.append(TOKENIZER_CONFIG_FILE)
    return written


def load_tokenizer(model_id: str, trust_remote_code: bool = False):
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except Exception as e:  # tokenizer.json alone may still be there
        log(f"warning: transformers cannot load the tokenizer ({type(e).__name__}: {e})")
        return None


# ---------------------------------------------------------------------------------------------------------
# Checks of the saved module against transformers
# ---------------------------------------------------------------------------------------------------------


def _check(name: str, got: torch.Tensor, want: torch.Tensor, rtol: float, atol: float) -> float:
    if got.shape != want.shape:
        raise ExportError(f"{name}: shape {tuple(got.shape)} != transformers' {tuple(want.shape)}")
    diff = float((got - want).abs().max()) if got.numel() else 0.0
    if not _close(got, want, rtol=rtol, atol=atol):
        raise ExportError(f"{name}: the exported module differs from transformers by {diff:.3g}")
    return diff


def verify_decoder_only(module, model, wrapper: DecoderOnlyBundle, sampler: IdSampler, max_len: int | None,
                        methods: list[str], rtol: float = VERIFY_RTOL, atol: float = VERIFY_ATOL) -> float:
    """The saved module vs transformers run from ids: other lengths and batch sizes than the traced example
    (1 and 3 with right padding), attentions, and a gradient w.r.t. the embeddings. Returns the largest
    logit difference."""
    lengths = [1, 2, 9, 16]
    if max_len:
        lengths = [n for n in lengths if n <= max_len] + [min(max_len, 48)]
    worst = 0.0
    for n in lengths:
        for lens in ([n], [n, max(1, n - 2), max(1, n // 2)]):
            ids = sampler(len(lens), n)  # [b, n]
            mask = right_padding_mask(lens, n)  # [b, n]
            with torch.no_grad():
                ref = model(input_ids=ids, attention_mask=mask, use_cache=False, output_attentions="forward_attentions" in methods, return_dict=True)
                logits = module.forward_embeds(module.embed(ids), mask)  # [b, n, vocab]
            worst = max(worst, _check(f"logits b={len(lens)} n={n}", logits, ref.logits, rtol, atol))
            if "forward_attentions" in methods:
                with torch.no_grad():
                    logits2, att = module.forward_attentions(module.embed(ids), mask)  # att [layers, b, heads, n, n]
                _check(f"forward_attentions logits b={len(lens)} n={n}", logits2, ref.logits, rtol, atol)
                _check(f"attentions b={len(lens)} n={n}", att, torch.stack(tuple(ref.attentions), 0), rtol, atol)
    # gradient of a few logits w.r.t. the embeddings: saved module vs the eager wrapper
    n = min(7, max_len or 7)
    ids, mask = sampler(3, n), right_padding_mask([n, max(1, n - 2), max(1, n - 4)], n)
    grads = []
    for fn in (module, wrapper):
        e = fn.embed(ids).detach().requires_grad_(True)  # [3, n, hidden]
        logits = fn.forward_embeds(e, mask)
        score = logits[0, n - 1, 3] + logits[1, 0, 5] - logits[2, 0, 7]
        (g,) = torch.autograd.grad(score, e)
        grads.append(g)
    _check("gradient w.r.t. the embeddings", grads[0], grads[1], rtol, atol)
    return worst


def verify_encoder_decoder(module, model, wrapper: EncoderDecoderBundle, sampler: IdSampler, start_id: int, max_len: int | None,
                           methods: list[str], rtol: float = VERIFY_RTOL, atol: float = VERIFY_ATOL) -> float:
    shapes = [(1, 1), (2, 1), (9, 4), (16, 11)]
    if max_len:
        shapes = [(s, t) for s, t in shapes if s <= max_len and t <= max_len] + [(min(max_len, 48), min(max_len, 40))]
    worst = 0.0
    for s, t in shapes:
        for src_lens in ([s], [s, max(1, s - 2), max(1, s // 2)]):
            b = len(src_lens)
            src = sampler(b, s)  # [b, s]
            src_mask = right_padding_mask(src_lens, s)  # [b, s]
            tgt = sampler(b, t)  # [b, t]
            tgt[:, 0] = start_id
            with torch.no_grad():
                ref = model(input_ids=src, attention_mask=src_mask, decoder_input_ids=tgt, use_cache=False,
                            output_attentions="forward_attentions" in methods, return_dict=True)
                logits = module.forward_embeds(module.embed_source(src), src_mask, module.embed_target(tgt))  # [b, t, vocab]
            worst = max(worst, _check(f"logits b={b} s={s} t={t}", logits, ref.logits, rtol, atol))
            if "forward_attentions" in methods:
                with torch.no_grad():
                    out = module.forward_attentions(module.embed_source(src), src_mask, module.embed_target(tgt))
                _check(f"forward_attentions logits b={b} s={s} t={t}", out[0], ref.logits, rtol, atol)
                _check(f"cross attentions b={b} s={s} t={t}", out[1], torch.stack(tuple(ref.cross_attentions), 0), rtol, atol)
                _check(f"decoder attentions b={b} s={s} t={t}", out[2], torch.stack(tuple(ref.decoder_attentions), 0), rtol, atol)
                enc_ref = torch.stack(tuple(ref.encoder_attentions), 0)  # [layers, b, heads, s, s]
                rows = src_mask.bool()[None, :, None, :, None]  # padded query rows may differ (positions of pads)
                _check(f"encoder attentions b={b} s={s}", out[3] * rows, enc_ref * rows, rtol, atol)
    s, t = min(7, max_len or 7), min(5, max_len or 5)
    src, src_mask = sampler(3, s), right_padding_mask([s, max(1, s - 2), max(1, s - 4)], s)
    tgt = sampler(3, t)
    tgt[:, 0] = start_id
    grads = []
    for fn in (module, wrapper):
        es = fn.embed_source(src).detach().requires_grad_(True)  # [3, s, hidden]
        et = fn.embed_target(tgt).detach().requires_grad_(True)  # [3, t, hidden]
        logits = fn.forward_embeds(es, src_mask, et)
        score = logits[0, t - 1, 3] + logits[1, 0, 5] - logits[2, t - 1, 7]
        grads.append(torch.autograd.grad(score, (es, et)))
    _check("gradient w.r.t. the source embeddings", grads[0][0], grads[1][0], rtol, atol)
    _check("gradient w.r.t. the target embeddings", grads[0][1], grads[1][1], rtol, atol)
    return worst


# ---------------------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------------------


def _config_int(config, names) -> int | None:
    for n in names:
        v = getattr(config, n, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def build_decoder_only(model, sampler: IdSampler, attentions: bool):
    ids = sampler(1, 6)  # [1, 6]
    with torch.no_grad():
        reference = model(input_ids=ids, use_cache=False, return_dict=True).logits  # [1, 6, vocab]
    stack = model.get_decoder() if hasattr(model, "get_decoder") else model.base_model
    spec = resolve_embedding(
        model.get_input_embeddings(), stack, ids, reference,
        lambda x: model(inputs_embeds=x, use_cache=False, return_dict=True).logits, "input",
    )
    wrapper = DecoderOnlyBundle(model, spec).eval()
    # example: batch 2, length 7, second row right-padded (lengths differ from every later check)
    ex_ids = sampler(2, 7)
    ex_mask = right_padding_mask([7, 5], 7)
    with torch.no_grad():
        ex_embeds = wrapper.embed(ex_ids)  # [2, 7, hidden]
    methods = ["embed", "forward_embeds"]
    shapes = {"hidden_size": int(ex_embeds.shape[-1]), "vocab_size": int(reference.shape[-1])}
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    shapes["num_layers"] = _config_int(cfg, ["num_hidden_layers", "n_layer", "num_layers"])
    shapes["num_heads"] = _config_int(cfg, ["num_attention_heads", "n_head", "num_heads"])
    if attentions:
        try:
            with torch.no_grad():
                _, att = wrapper.forward_attentions(ex_embeds, ex_mask)  # [layers, 2, heads, 7, 7]
            shapes["num_layers"], shapes["num_heads"] = int(att.shape[0]), int(att.shape[2])
            methods.append("forward_attentions")
        except Exception as e:  # a model that returns no attentions
            log(f"warning: no forward_attentions ({type(e).__name__}: {e})")
    example = {"embed": (ex_ids,), "forward_embeds": (ex_embeds, ex_mask), "forward_attentions": (ex_embeds, ex_mask)}
    return wrapper, methods, example, shapes, {"source": spec.total_scale, "target": spec.total_scale}


def build_encoder_decoder(model, sampler: IdSampler, start_id: int, attentions: bool):
    src = sampler(1, 6)  # [1, 6]
    tgt = sampler(1, 4)  # [1, 4]
    tgt[:, 0] = start_id
    with torch.no_grad():
        reference = model(input_ids=src, decoder_input_ids=tgt, use_cache=False, return_dict=True).logits  # [1, 4, vocab]
    encoder, decoder = model.get_encoder(), model.get_decoder()
    src_spec = resolve_embedding(
        encoder.get_input_embeddings() if hasattr(encoder, "get_input_embeddings") else encoder.embed_tokens, encoder, src, reference,
        lambda x: model(inputs_embeds=x, decoder_input_ids=tgt, use_cache=False, return_dict=True).logits, "source",
    )
    tgt_spec = resolve_embedding(
        decoder.get_input_embeddings() if hasattr(decoder, "get_input_embeddings") else decoder.embed_tokens, decoder, tgt, reference,
        lambda x: model(input_ids=src, decoder_inputs_embeds=x, use_cache=False, return_dict=True).logits, "target",
    )
    wrapper = EncoderDecoderBundle(model, src_spec, tgt_spec).eval()
    ex_src = sampler(2, 7)  # [2, 7]
    ex_mask = right_padding_mask([7, 5], 7)
    ex_tgt = sampler(2, 5)  # [2, 5]
    ex_tgt[:, 0] = start_id
    with torch.no_grad():
        ex_se = wrapper.embed_source(ex_src)  # [2, 7, hidden]
        ex_te = wrapper.embed_target(ex_tgt)  # [2, 5, hidden]
    methods = ["embed_source", "embed_target", "forward_embeds"]
    cfg = model.config
    shapes = {
        "hidden_size": int(ex_te.shape[-1]),
        "vocab_size": int(reference.shape[-1]),
        "source_vocab_size": int(src_spec.module.weight.shape[0]),
        "num_layers": _config_int(cfg, ["decoder_layers", "num_decoder_layers", "num_layers", "num_hidden_layers"]),
        "num_heads": _config_int(cfg, ["decoder_attention_heads", "num_heads", "num_attention_heads"]),
        "encoder_layers": _config_int(cfg, ["encoder_layers", "num_layers", "num_hidden_layers"]),
        "encoder_heads": _config_int(cfg, ["encoder_attention_heads", "num_heads", "num_attention_heads"]),
    }
    if int(ex_se.shape[-1]) != shapes["hidden_size"]:
        raise ExportError(f"source and target embeddings differ in size ({ex_se.shape[-1]} vs {ex_te.shape[-1]})")
    if attentions:
        try:
            with torch.no_grad():
                _, cross, _, enc = wrapper.forward_attentions(ex_se, ex_mask, ex_te)  # cross [L, 2, H, 5, 7]
            shapes["num_layers"], shapes["num_heads"] = int(cross.shape[0]), int(cross.shape[2])
            shapes["encoder_layers"], shapes["encoder_heads"] = int(enc.shape[0]), int(enc.shape[2])
            methods.append("forward_attentions")
        except Exception as e:
            log(f"warning: no forward_attentions ({type(e).__name__}: {e})")
    example = {
        "embed_source": (ex_src,),
        "embed_target": (ex_tgt,),
        "forward_embeds": (ex_se, ex_mask, ex_te),
        "forward_attentions": (ex_se, ex_mask, ex_te),
    }
    return wrapper, methods, example, shapes, {"source": src_spec.total_scale, "target": tgt_spec.total_scale}


def _place(tmp: Path, out: Path) -> None:
    """Rename the finished temporary directory to `out` (replacing an older bundle there)."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / out.name)
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old / out.name, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


def export(
    model_id: str,
    out_dir: str | os.PathLike,
    kind: str = "auto",
    attentions: bool = True,
    max_positions: int | None = -1,
    verify: bool = True,
    trust_remote_code: bool = False,
    methods_override: list[str] | None = None,
) -> dict[str, Any]:
    """Export MODEL to OUT_DIR. `max_positions`: -1 = from the config, 0 = unlimited (null), N = N.
    `methods_override` (tests only) traces just these methods; the sidecar still lists the full set.
    Returns the sidecar."""
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / SIDECAR_FILE).is_file():
        raise ExportError(f"{out} is a non-empty directory that holds no bundle; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    model, kind = load_hf_model(model_id, kind, trust_remote_code)
    tokenizer = load_tokenizer(model_id, trust_remote_code)
    vocab_rows = int(model.get_input_embeddings().weight.shape[0])
    sampler = IdSampler(vocab_rows, _special_id_set(model))
    if kind == ENCODER_DECODER:
        start_id = special_token_ids(model, tokenizer)["decoder_start_token_id"]
        if start_id is None:
            raise ExportError("the model has no decoder_start_token_id (config or generation_config)")
        wrapper, methods, example, shapes, scales = build_encoder_decoder(model, sampler, start_id, attentions)
    else:
        wrapper, methods, example, shapes, scales = build_decoder_only(model, sampler, attentions)
    for key in ("num_layers", "num_heads"):
        if not shapes.get(key):
            raise ExportError(f"cannot tell {key} from the config; export with attentions so it is read from them")

    if max_positions is None or max_positions < 0:
        max_positions = config_max_positions(model.config, kind)
    elif max_positions == 0:
        max_positions = None
    sidecar = build_sidecar(model, kind, model_id, tokenizer, methods, shapes, scales, max_positions)
    traced_methods = [m for m in methods if methods_override is None or m in methods_override]

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700
    try:
        log(f"tracing {', '.join(traced_methods)} ({kind}, {sidecar['model_type']})")
        traced = trace_bundle(wrapper, traced_methods, example)
        _save(traced, tmp / MODULE_FILE)
        written = write_tokenizers(model_id, tokenizer, tmp, trust_remote_code)
        (tmp / SIDECAR_FILE).write_text(json.dumps(sidecar, indent=2) + "\n")
        if verify and methods_override is None:
            loaded = _load(tmp / MODULE_FILE)
            max_len = max_positions if max_positions else None
            if kind == ENCODER_DECODER:
                worst = verify_encoder_decoder(loaded, model, wrapper, sampler, sidecar["decoder_start_token_id"], max_len, methods)
            else:
                worst = verify_decoder_only(loaded, model, wrapper, sampler, max_len, methods)
            log(f"checked against transformers: largest logit difference {worst:.3g}")
        _place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"wrote {out} ({MODULE_FILE}, {SIDECAR_FILE}, {', '.join(written)})")
    return sidecar


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="export-torchscript",
        description="Export a Hugging Face causal LM or seq2seq LM to an inseq TorchScript bundle (docs/torchscript.md).",
    )
    p.add_argument("model", metavar="MODEL", help="hub id or local model directory")
    p.add_argument("out_dir", metavar="OUT_DIR", help="bundle directory to write (replaced if it holds a bundle)")
    p.add_argument("--kind", choices=["auto", DECODER_ONLY, ENCODER_DECODER], default="auto",
                   help="model kind (default: from config.is_encoder_decoder)")
    p.add_argument("--no-attentions", action="store_true", help="do not export forward_attentions")
    p.add_argument("--max-positions", type=int, default=-1, metavar="N",
                   help="longest sequence the bundle accepts (default: the config's max_position_embeddings / "
                        "n_positions; 0: unlimited)")
    p.add_argument("--no-verify", action="store_true", help="skip the check of the saved module against transformers")
    p.add_argument("--trust-remote-code", action="store_true", help="pass trust_remote_code=True to transformers")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sidecar = export(
            args.model,
            args.out_dir,
            kind=args.kind,
            attentions=not args.no_attentions,
            max_positions=args.max_positions,
            verify=not args.no_verify,
            trust_remote_code=args.trust_remote_code,
        )
    except ExportError as e:
        log(f"error: {e}")
        return 1
    print(json.dumps(sidecar, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
