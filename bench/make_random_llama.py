"""Writes a random-weight Llama-family checkpoint of a given shape (bf16 safetensors, sharded, with an index) and
GPT-2's tokenizer, with torch only (no transformers, no safetensors package): the large GPU benchmark models.

    python bench/make_random_llama.py <dir> [--shape 8b|1b|tiny] [--device cuda|cpu]

8b: the Llama-3.1-8B shape (32 layers x 4096, GQA 32/8, MLP 14336, vocab 128256, untied head, llama3 rope, 16 GB).
Weights ~N(0, 0.02), norms 1, drawn on --device (fast on a GPU) with a fixed seed. Skips a directory that is
already complete (its index lists every shard and they all exist).
"""
import json
import os
import shutil
import struct
import sys

import torch

out_dir = sys.argv[1]
flags = sys.argv[2:]


def flag(name, default):
    return flags[flags.index(name) + 1] if name in flags else default


SHAPES = {
    "8b": dict(h=4096, layers=32, heads=32, kv=8, mlp=14336, vocab=128256, tied=False),
    "1b": dict(h=2048, layers=16, heads=32, kv=8, mlp=8192, vocab=128256, tied=True),
    "tiny": dict(h=64, layers=2, heads=4, kv=2, mlp=128, vocab=128256, tied=False),  # rehearsals
}
shape = SHAPES[flag("--shape", "8b")]
device = flag("--device", "cuda" if torch.cuda.is_available() else "cpu")
SHARD_BYTES = 4 << 30
index_path = os.path.join(out_dir, "model.safetensors.index.json")
if os.path.exists(index_path):
    files = set(json.load(open(index_path))["weight_map"].values())
    if all(os.path.exists(os.path.join(out_dir, f)) for f in files):
        print(f"{out_dir}: complete, kept")
        sys.exit(0)
os.makedirs(out_dir, exist_ok=True)

h, L, nh, kv, mlp, vocab = (shape[k] for k in ("h", "layers", "heads", "kv", "mlp", "vocab"))
hd = h // nh
config = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": h, "num_hidden_layers": L,
    "num_attention_heads": nh, "num_key_value_heads": kv, "head_dim": hd, "intermediate_size": mlp, "vocab_size": vocab,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    "hidden_act": "silu", "tie_word_embeddings": shape["tied"], "attention_bias": False, "mlp_bias": False,
    "bos_token_id": 50256, "eos_token_id": 50256, "torch_dtype": "bfloat16", "dtype": "bfloat16",
}
json.dump(config, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
tok_src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "hf-gpt2-tokenizer")
for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
    shutil.copyfile(os.path.join(tok_src, f), os.path.join(out_dir, f))
# GPT-2's tokenizer config caps prompts at 1,024 tokens (Python Inseq would silently keep the last 1,024).
tc_path = os.path.join(out_dir, "tokenizer_config.json")
tc = json.load(open(tc_path))
tc["model_max_length"] = 131072
json.dump(tc, open(tc_path, "w"), indent=2)

tensors = [("model.embed_tokens.weight", (vocab, h), "n"), ("model.norm.weight", (h,), "1")]
if not shape["tied"]:
    tensors.append(("lm_head.weight", (vocab, h), "n"))
for i in range(L):
    p = f"model.layers.{i}."
    tensors += [(p + "input_layernorm.weight", (h,), "1"), (p + "post_attention_layernorm.weight", (h,), "1"),
                (p + "self_attn.q_proj.weight", (nh * hd, h), "n"), (p + "self_attn.k_proj.weight", (kv * hd, h), "n"),
                (p + "self_attn.v_proj.weight", (kv * hd, h), "n"), (p + "self_attn.o_proj.weight", (h, nh * hd), "n"),
                (p + "mlp.gate_proj.weight", (mlp, h), "n"), (p + "mlp.up_proj.weight", (mlp, h), "n"),
                (p + "mlp.down_proj.weight", (h, mlp), "n")]

# Shards of at most SHARD_BYTES, in order.
shards, current, size = [], [], 0
for name, shp, kind in tensors:
    nbytes = 2 * int(torch.tensor(shp).prod())
    if current and size + nbytes > SHARD_BYTES:
        shards.append(current)
        current, size = [], 0
    current.append((name, shp, kind))
    size += nbytes
shards.append(current)

gen = torch.Generator(device=device).manual_seed(3)
weight_map = {}
for s, shard in enumerate(shards):
    fname = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
    header, offset = {}, 0
    for name, shp, _ in shard:
        nbytes = 2 * int(torch.tensor(shp).prod())
        header[name] = {"dtype": "BF16", "shape": list(shp), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
        weight_map[name] = fname
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(os.path.join(out_dir, fname + ".tmp"), "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name, shp, kind in shard:
            t = torch.ones(shp, dtype=torch.bfloat16, device=device) if kind == "1" else \
                torch.randn(shp, generator=gen, device=device, dtype=torch.float32).mul_(0.02).to(torch.bfloat16)  # shp
            f.write(t.cpu().contiguous().view(torch.uint8).numpy().tobytes())
    os.replace(os.path.join(out_dir, fname + ".tmp"), os.path.join(out_dir, fname))
    print(f"{fname}: {len(shard)} tensors, {offset / 2**30:.2f} GiB", flush=True)
json.dump({"metadata": {"total_size": sum(2 * int(torch.tensor(s).prod()) for _, s, _ in tensors)}, "weight_map": weight_map},
          open(index_path, "w"), indent=2)
print(f"wrote {out_dir}")
