#!/usr/bin/env python3
"""AttnLRP / CP-LRP goldens from LXT 2.1 (the AttnLRP authors' library) on tiny random Llama and GPT-2 checkpoints.

Run with a Python that has LXT 2.1 and the transformers / torch it is tested with (see scripts/reference/README.md):

    /opt/lxt-py/venv/bin/python scripts/reference/make_lxt_goldens.py [FAMILY ...]

Writes test/fixtures/lxt-golden/<family>/ for family in (llama, gpt2, qwen2, qwen3, gemma3), every model LXT 2.1
patches (besides BERT and ViT): the checkpoint (config.json, model.safetensors,
written by transformers' save_pretrained; the reference fixtures' byte-level BPE tokenizer, copied) and golden.json:

    {"lxt_version", "transformers_version", "torch_version", "prompt", "text", "ids": [...], "start": int,
     "methods": {"attn_lrp" | "cp_lrp": {"steps": [{"target": id, "logit": float,
                                                      "relevance": [t floats],        # token embeddings, signed,
                                                                                      # summed over hidden
                                                      "position_relevance": [t floats] (gpt2 only)}]}}}

Each step t = start .. len(ids) - 1 attributes the logit of ids[t] given ids[:t] (teacher forcing, one backward
per step, as LXT's examples do): relevance = (d logit / d embeddings) * embeddings summed over the hidden
dimension, with LXT's rules patched into the model. GPT-2's learned position embeddings get relevance of their
own (the same gradient times wpe rows), reported separately. LXT patches transformers' classes globally and
cannot unpatch, so each (family, method) runs in its own subprocess.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test/fixtures/lxt-golden"
TOKENIZER_SRC = ROOT / "test/fixtures/reference/llama"
PROMPT = "Ben and the cat"
TEXT = "Ben and the cat sat on the mat and"
METHODS = {"attn_lrp": "attnLRP", "cp_lrp": "cp_LRP"}
CLASSES = {"llama": "LlamaForCausalLM", "gpt2": "GPT2LMHeadModel", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
           "gemma3": "Gemma3ForCausalLM"}


def write_checkpoint(family: str) -> None:
    import torch
    from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                              Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

    torch.manual_seed({"llama": 1601, "gpt2": 1602, "qwen2": 1603, "qwen3": 1604, "gemma3": 1605}[family])
    common = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, initializer_range=0.2,
                  bos_token_id=0, eos_token_id=0, pad_token_id=0, attn_implementation="eager")
    # Weights ~N(0, 0.2): large enough that the activations, norms and softmaxes are far from linear.
    if family == "llama":
        config = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, head_dim=8, max_position_embeddings=128, rms_norm_eps=1e-6,
                             rope_theta=10000.0, tie_word_embeddings=False, initializer_range=0.2, bos_token_id=0,
                             eos_token_id=0, pad_token_id=0, attn_implementation="eager")
        model = LlamaForCausalLM(config)
    elif family == "qwen2":  # q/k/v biases, tied head
        model = Qwen2ForCausalLM(Qwen2Config(**common, rope_theta=10000.0, tie_word_embeddings=True))
    elif family == "qwen3":  # per-head q/k RMSNorm, head_dim 12 != 32 / 4, untied
        model = Qwen3ForCausalLM(Qwen3Config(**common, head_dim=12, rope_theta=10000.0, tie_word_embeddings=False))
    elif family == "gemma3":  # (1 + w) norms, GeGLU, q/k norm, embeddings x sqrt(32), sliding layer 0 (window 4)
        model = Gemma3ForCausalLM(Gemma3TextConfig(**common, head_dim=8, query_pre_attn_scalar=8, sliding_window=4,
                                                   sliding_window_pattern=2, rope_theta=1e6, rope_local_base_freq=1e4))
    else:
        config = GPT2Config(vocab_size=300, n_embd=32, n_layer=2, n_head=4, n_inner=64, n_positions=128,
                            activation_function="gelu_new", initializer_range=0.2, bos_token_id=0, eos_token_id=0,
                            pad_token_id=0, attn_implementation="eager")
        model = GPT2LMHeadModel(config)
    with torch.no_grad():  # norms away from 1 and non-zero biases, so their rules matter
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                if name.endswith("weight"):  # Gemma's norms multiply by (1 + w)
                    p.copy_(torch.empty_like(p).uniform_(-0.5, 0.5) if family == "gemma3" else torch.empty_like(p).uniform_(0.5, 1.5))
                else:
                    p.copy_(torch.randn_like(p) * 0.1)
            elif name.endswith("bias"):
                p.copy_(torch.randn_like(p) * 0.1)
    out = OUT / family
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(TOKENIZER_SRC / f, out / f)


def run_lxt(family: str, method: str) -> dict:
    """One (family, method) in this process: patch transformers with LXT, attribute every step."""
    import torch
    import transformers
    from lxt.efficient import monkey_patch
    from tokenizers import Tokenizer

    torch.set_num_threads(1)
    out = OUT / family
    import importlib

    rules = importlib.import_module(f"lxt.efficient.models.{family}")
    module = importlib.import_module(f"transformers.models.{family}.modeling_{family}")
    cls = getattr(transformers, CLASSES[family])
    monkey_patch(module, getattr(rules, METHODS[method]))
    model = cls.from_pretrained(out, attn_implementation="eager", torch_dtype=torch.float32).eval()
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    ids = tok.encode(TEXT).ids
    start = len(tok.encode(PROMPT).ids)
    embedding = model.get_input_embeddings()
    captured = {}
    if family == "gpt2":  # keep the position embeddings' output to read its gradient
        def keep(_module, _inputs, output):
            output.retain_grad()
            captured["wpe"] = output
        model.transformer.wpe.register_forward_hook(keep)
    steps = []
    for t in range(start, len(ids)):
        x = embedding(torch.tensor([ids[:t]])).detach().requires_grad_(True)  # [1, t, hidden]
        logits = model(inputs_embeds=x, use_cache=False).logits  # [1, t, vocab]
        logit = logits[0, -1, ids[t]]
        logit.backward()
        step = {"target": ids[t], "logit": logit.item(), "relevance": (x.grad * x).sum(-1)[0].tolist()}
        if family == "gpt2":
            pe = captured["wpe"]  # [1, t, hidden]
            step["position_relevance"] = (pe.grad * pe).sum(-1)[0].tolist()
        steps.append(step)
    return {"ids": ids, "start": start, "steps": steps,
            "versions": {"transformers": transformers.__version__, "torch": torch.__version__}}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[2] in METHODS:  # child: one (family, method)
        print(json.dumps(run_lxt(sys.argv[1], sys.argv[2])))
        return
    from importlib.metadata import version

    for family in sys.argv[1:] or CLASSES:
        write_checkpoint(family)
        golden = {"lxt_version": version("lxt"), "prompt": PROMPT, "text": TEXT, "methods": {}}
        for method in METHODS:
            res = json.loads(subprocess.run([sys.executable, __file__, family, method], check=True, capture_output=True,
                                            text=True).stdout.strip().splitlines()[-1])
            golden.update({"transformers_version": res["versions"]["transformers"], "torch_version": res["versions"]["torch"],
                           "ids": res["ids"], "start": res["start"]})
            golden["methods"][method] = {"steps": res["steps"]}
            worst = max(abs(sum(s["relevance"]) + sum(s.get("position_relevance", [])) - s["logit"]) for s in res["steps"])
            print(f"{family} {method}: {len(res['steps'])} steps, max |sum of relevance - logit| {worst:.3g}")
        (OUT / family / "golden.json").write_text(json.dumps(golden) + "\n")


if __name__ == "__main__":
    main()
