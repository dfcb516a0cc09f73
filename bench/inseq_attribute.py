"""Python Inseq 0.7.1 on the same checkpoint and inputs as bench/attribute-run.mjs (one JSON line).

    python bench/inseq_attribute.py <model_dir> <method> <threads> <story> [--device cpu|cuda] [--dtype float32|bfloat16|float16] [--warmup]

threads 0 keeps torch's default. --warmup runs one short attribution first (CUDA context, cuBLAS handles).
--args '{"n_steps": 8}' replaces the method's arguments (default: n_steps 50 for integrated_gradients, none else);
--steps K attributes only the first K generated steps (attr_pos_end), for methods too slow to run all 20.
"""
import json
import resource
import sys
import time

import torch

model_dir, method, threads, STORY = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
flags = sys.argv[5:]


def flag(name, default):
    return flags[flags.index(name) + 1] if name in flags else default


device, dtype = flag("--device", "cpu"), flag("--dtype", "float32")
if threads > 0:
    torch.set_num_threads(threads)
import inseq  # noqa: E402


from bench_texts import prefix_with_tokens  # noqa: E402


kwargs = json.loads(flag("--args", "null")) or ({"n_steps": 50} if method == "integrated_gradients" else {})
# ReAGent's arguments are constructor arguments: Inseq takes them at load_model time only.
ctor = kwargs if method == "reagent" else {}
kwargs = {} if method == "reagent" else kwargs
model = inseq.load_model(model_dir, method, device=device, model_kwargs={"dtype": getattr(torch, dtype)}, **ctor)
tok = model.tokenizer
prompt = prefix_with_tokens(tok, STORY, 20)
forced = prefix_with_tokens(tok, STORY, 40)
if flag("--steps", None) is not None:
    kwargs["attr_pos_end"] = len(tok(prompt).input_ids) + int(flag("--steps", None))
cuda = device.startswith("cuda")
if "--warmup" in flags:
    warm = {"n_steps": 2} if method == "integrated_gradients" else {}
    model.attribute(prompt, prefix_with_tokens(tok, STORY, 22), show_progress=False, **{**kwargs, **warm, "attr_pos_end": None})
if cuda:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
out = model.attribute(prompt, forced, show_progress=False, **kwargs)
if cuda:
    torch.cuda.synchronize()
seconds = time.perf_counter() - t0
seq = out.sequence_attributions[0]
print(json.dumps({
    "engine": "python-inseq-0.7.1", "method": method, "threads": threads, "device": device, "dtype": dtype, "seconds": round(seconds, 3),
    "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    **({"peakGpuMb": round(torch.cuda.max_memory_allocated() / 2**20)} if cuda else {}),
    "steps": seq.attr_pos_end - seq.attr_pos_start, "torch": torch.__version__,
}))
