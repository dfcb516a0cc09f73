"""Python Inseq 0.7.1 on the same Marian-shaped checkpoint and inputs as bench/attribute-seq2seq-run.mjs (one JSON line).

    /opt/inseq-py/venv/bin/python bench/inseq_attribute_seq2seq.py <model_dir> <method> <threads> <reps> <max_seconds> <source> <target>

Same protocol as the Node runner: one warm-up call on a 4-token target (3 words + </s>; integrated_gradients
with n_steps=5), then up to
<reps> timed calls, stopping early once the timed calls add up to <max_seconds>. value_zeroing needs one shim on
transformers 5.x (layers return a Tensor, Inseq 0.7.1's block hook expects a tuple): the same one
scripts/reference/make_inseq_seq2seq_goldens.py uses; it only changes how the patched hidden state is returned.
"""
import json
import resource
import statistics
import sys
import time

import torch

model_dir, method, threads, reps, max_seconds, source, target = sys.argv[1:8]
threads, reps, max_seconds = int(threads), int(reps), float(max_seconds)
torch.set_num_threads(threads)
import inseq  # noqa: E402

if method == "value_zeroing":
    # Reuse the goldens script's shim (importing it runs nothing: its work is under main()).
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "make_inseq_seq2seq_goldens", Path(__file__).resolve().parent.parent / "scripts/reference/make_inseq_seq2seq_goldens.py")
    goldens = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(goldens)
    # Keep a reference: a bare value_zeroing_compat().__enter__() lets the context manager be garbage-collected at
    # once, which closes its generator and runs its `finally`, undoing the shim before the model is even loaded.
    _vz_compat = goldens.value_zeroing_compat()
    _vz_compat.__enter__()  # kept for the life of this process

model = inseq.load_model(model_dir, method, device="cpu")
tok = model.tokenizer
assert len(tok(source).input_ids) == 20 and len(tok(target).input_ids) == 20, "expected 20 source and 20 target tokens"
kwargs = {"n_steps": 50} if method == "integrated_gradients" else {}
warm = {"n_steps": 5} if method == "integrated_gradients" else {}
t0 = time.perf_counter()
model.attribute(source, " ".join(target.split(" ")[:3]), show_progress=False, **warm)
warmup = time.perf_counter() - t0
times = []
while len(times) < reps and sum(times) < max_seconds:
    t0 = time.perf_counter()
    out = model.attribute(source, target, show_progress=False, **kwargs)
    times.append(time.perf_counter() - t0)
seq = out.sequence_attributions[0]
print(json.dumps({
    "engine": "python-inseq-0.7.1", "method": method, "threads": threads, "seconds": round(statistics.median(times), 3),
    "min": round(min(times), 3), "reps": len(times), "warmup": round(warmup, 3),
    "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "cpuSeconds": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime, 1),
    "steps": seq.attr_pos_end - seq.attr_pos_start, "torch": torch.__version__,
}))
