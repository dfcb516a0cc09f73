"""Python Inseq 0.7.1 on one long-context configuration of bench/long-context-run.mjs (one JSON line, same fields).

    python bench/inseq_long_context.py <model_dir> <method> <promptTokens> [--gen 16] [--threads 1]
                                       [--dtype bfloat16] [--no-warmup] [--layers N] [--model llama1b|tiny]
                                       [--attn eager|sdpa] [--device cpu|cuda]

--device cuda (bench/long-context-gpu.mjs): the model on the GPU; gpuPeakMb is torch.cuda.max_memory_allocated of
the timed call, and a CUDA out-of-memory error is reported as {"error": "out of memory", ...} (exit status 3).

--layers / --model are only echoed into the JSON (the checkpoint is <model_dir>, written by bench/checkpoints.mjs).
Texts: the same windows of the same corpus as bench/long-context-texts.mjs (exact_texts below mirrors
exactTexts), so ours and Inseq attribute the same tokens; textsSha1 lets the driver check it. Memory: the same
protocol as ours (warm-up on 4 + 2 tokens, then the peak is reset through /proc/self/clear_refs; see
long-context-run.mjs).
--attn: transformers' attention implementation. Default: Inseq's own choice, "eager" (inseq.load_model sets
attn_implementation="eager" for every method, so that attention weights can be returned), which materialises
every layer's [heads, n, n] attention probabilities (and keeps them for the backward pass). "sdpa" is a
diagnostic of what that costs; it cannot return attention weights.
"""
import gc
import hashlib
import json
import os
import re
import sys
import time

import numpy as np
import torch

model_dir, method, prompt_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
flags = sys.argv[4:]


def flag(name, default):
    return flags[flags.index(name) + 1] if name in flags else default


gen, threads, dtype = int(flag("--gen", "16")), int(flag("--threads", "1")), flag("--dtype", "bfloat16")
if threads > 0:
    torch.set_num_threads(threads)
import inseq  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "tinystories-sample", "tinystories_sample.txt")


def status():
    """VmRSS, VmHWM, RssAnon, ... of this process in MB."""
    text = open("/proc/self/status").read()
    return {k: round(int(v) / 1024) for k, v in re.findall(r"^(Vm\w+|Rss\w+):\s+(\d+) kB", text, re.M)}


def corpus_text():
    """The TinyStories sample without its <|endoftext|> separators, stories joined by newlines (as corpusText)."""
    stories = [s.strip() for s in open(CORPUS, encoding="utf-8").read().split("<|endoftext|>")]
    return "\n".join(s for s in stories if s)


def exact_texts(tok, n, gen):
    """(prompt, forced, start): prompt = exactly n tokens, forced = prompt + continuation of exactly n + gen (as exactTexts)."""
    def encode(t):
        return tok(t, add_special_tokens=False).input_ids

    def decode(ids):
        return tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    base = corpus_text()
    corpus = base
    ids = encode(corpus)
    copies = -(-(n + gen + 256) // len(ids))
    if copies > 1:
        corpus = "\n".join([base] * copies)
        ids = encode(corpus)
    for s in range(0, 256):
        if s + n + gen > len(ids):
            break
        p, f = ids[s:s + n], ids[s:s + n + gen]
        prompt, forced = decode(p), decode(f)
        if "\ufffd" in prompt or "\ufffd" in forced or not forced.startswith(prompt):
            continue
        if encode(prompt) == p and encode(forced) == f:
            return prompt, forced, s
    raise ValueError(f"no window of {n} + {gen} tokens re-encodes exactly")


def texts_hash(prompt, forced):
    return hashlib.sha1((prompt + "\0" + forced).encode("utf-8")).hexdigest()[:12]


def coarse(t):
    """Inseq's raw target_attributions -> our default output: gradient methods [seq, gen, hidden] -> L2 over
    hidden, then L1-normalised per generated column (Inseq's default aggregation; ours does it on the device);
    occlusion is already [seq, gen] in Inseq 0.7.1 (a [seq, gen, hidden] output, the same value in every hidden
    slot, would be averaged); attention [seq, gen, layer, head] as it is."""
    t = t.detach().float()
    if method in ("saliency", "integrated_gradients"):
        v = t.norm(dim=-1)  # [seq, gen]
        return v / v.nansum(dim=0, keepdim=True)
    if method == "occlusion" and t.ndim == 3:
        return t.mean(dim=-1)  # [seq, gen]
    return t


def checksum(t):
    """The fingerprint of long-context-checksum.mjs (resultChecksum): shape, finite / NaN counts, sum, sum of
    squares, attribution-weighted mean row, top row per column (extra dims summed, non-finite values skipped)."""
    a = t.numpy().astype(np.float64)
    fin = np.isfinite(a)
    z = np.where(fin, a, 0.0)
    cell = z.reshape(a.shape[0], a.shape[1], -1).sum(-1)  # [rows, cols]
    rows = np.arange(a.shape[0])[:, None]
    mass = cell.sum()
    top = [int(cell[:, j].argmax()) if cell[:, j].max() > 0 else -1 for j in range(a.shape[1])]
    r = lambda x: float(f"{x:.6g}")  # noqa: E731
    return {"shape": list(a.shape), "finite": int(fin.sum()), "nan": int((~fin).sum()), "sum": r(z.sum()),
            "sumSq": r((z * z).sum()), "posMean": r((cell * rows).sum() / mass if mass else 0.0), "top": top}


t0 = time.perf_counter()
attn = flag("--attn", None)
model_kwargs = {"dtype": getattr(torch, dtype), **({"attn_implementation": attn} if attn else {})}
device = flag("--device", "cpu")
cuda = device.startswith("cuda")
model = inseq.load_model(model_dir, method, device=device, model_kwargs=model_kwargs)
load_seconds = time.perf_counter() - t0
tok = model.tokenizer
prompt, forced, start = exact_texts(tok, prompt_tokens, gen)
kwargs = {"n_steps": 16} if method == "integrated_gradients" else {}

warmup_seconds = None
if "--no-warmup" not in flags:
    wp, wf, _ = exact_texts(tok, 4, 2)
    t0 = time.perf_counter()
    model.attribute(wp, wf, show_progress=False, attribute_target=False, **({"n_steps": 2} if kwargs else {}))
    warmup_seconds = time.perf_counter() - t0
    gc.collect()
load_peak = status()["VmHWM"]
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS
base = status()

if cuda:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
try:
    out = model.attribute(prompt, forced, show_progress=False, attribute_target=False, **kwargs)
except torch.cuda.OutOfMemoryError as e:  # the peer's failure mode on long inputs: report it, not a traceback
    print(json.dumps({"impl": "python-inseq-0.7.1", "method": method, "promptTokens": prompt_tokens, "gen": gen, "device": device,
                      "error": "out of memory", "seconds": round(time.perf_counter() - t0, 3),
                      "gpuPeakMb": round(torch.cuda.max_memory_allocated() / 2**20), "message": str(e).split("\n")[0][:300]}))
    sys.exit(3)
if cuda:
    torch.cuda.synchronize()
seconds = time.perf_counter() - t0
after = status()
seq = out.sequence_attributions[0]
print(json.dumps({
    "impl": "python-inseq-0.7.1", "method": method, "promptTokens": prompt_tokens, "gen": gen,
    "layers": int(flag("--layers", "0")) or None, "model": flag("--model", None), "dtype": dtype, "threads": threads,
    "attnImplementation": model.model.config._attn_implementation, "seconds": round(seconds, 3), "loadSeconds": round(load_seconds, 3), "warmupSeconds": warmup_seconds and round(warmup_seconds, 3),
    "peakRssMb": max(load_peak, after["VmHWM"]), "attrPeakRssMb": after["VmHWM"], "baseRssMb": base["VmRSS"],
    "extraMb": after["VmHWM"] - base["VmRSS"], "steps": seq.attr_pos_end - seq.attr_pos_start,
    "textsSha1": texts_hash(prompt, forced), "textStart": start,
    "checksum": checksum(coarse(seq.target_attributions)) if seq.target_attributions is not None else None,
    "torch": torch.__version__, "device": device,
    "gpuPeakMb": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
}))
