"""transformers' greedy generation on the same checkpoint and prompt as bench/generate-run.mjs (what Python Inseq's
model.generate runs, with the eager attention Inseq selects), one JSON line:

    python bench/hf_generate.py <model_dir> <threads> <story> [--new-tokens 32]
"""
import json
import sys
import time

import torch

model_dir, threads, STORY = sys.argv[1], int(sys.argv[2]), sys.argv[3]
new_tokens = int(sys.argv[sys.argv.index("--new-tokens") + 1]) if "--new-tokens" in sys.argv else 32
torch.set_num_threads(threads)
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
words = STORY.split(" ")
prompt = next(" ".join(words[:k]) for k in range(1, len(words) + 1) if len(tok(" ".join(words[:k])).input_ids) == 20)
ids = tok(prompt, return_tensors="pt").input_ids


def generate(n):
    with torch.inference_mode():
        return model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)


generate(2)
t0 = time.perf_counter()
out = generate(new_tokens)
seconds = time.perf_counter() - t0
generated = out.shape[1] - ids.shape[1]
print(json.dumps({"engine": "transformers " + __import__("transformers").__version__, "threads": threads, "seconds": round(seconds, 3),
                  "generated": generated, "tokensPerSecond": round(generated / seconds, 2)}))
