"""Python Inseq 0.7.1 on the same checkpoint and inputs as bench/attribute-run.mjs (one JSON line).

    /opt/inseq-py/venv/bin/python bench/inseq_attribute.py <model_dir> <method> <threads>
"""
import json
import resource
import sys
import time

import torch

model_dir, method, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
import inseq  # noqa: E402

STORY = sys.argv[4]


def prefix_with_tokens(tok, text, n):
    words = text.split(" ")
    for k in range(1, len(words) + 1):
        cand = " ".join(words[:k])
        m = len(tok(cand).input_ids)
        if m == n:
            return cand
        if m > n:
            break
    raise ValueError(f"no {n}-token prefix")


model = inseq.load_model(model_dir, method, device="cpu")
tok = model.tokenizer
prompt = prefix_with_tokens(tok, STORY, 20)
forced = prefix_with_tokens(tok, STORY, 40)
kwargs = {"n_steps": 50} if method == "integrated_gradients" else {}
t0 = time.perf_counter()
out = model.attribute(prompt, forced, show_progress=False, **kwargs)
seconds = time.perf_counter() - t0
seq = out.sequence_attributions[0]
print(json.dumps({
    "engine": "python-inseq-0.7.1", "method": method, "threads": threads, "seconds": round(seconds, 3),
    "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "steps": seq.attr_pos_end - seq.attr_pos_start, "torch": torch.__version__,
}))
