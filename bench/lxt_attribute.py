"""LXT 2.1 (AttnLRP / CP-LRP) on the same checkpoint and inputs as bench/attribute-run.mjs (one JSON line).

    python bench/lxt_attribute.py <model_dir> <attn_lrp|cp_lrp> <threads> <story> [--frozen]

Needs a Python with lxt 2.1 and the transformers / torch it is tested with (scripts/reference/README.md). Patches the
model's transformers module with LXT's rules, then attributes each of the 20 forced tokens after the 20-token prompt
as LXT's examples do: one forward and one backward of the target's logit per step, relevance = grad x input of the
token embeddings summed over the hidden dimension. float32 on the CPU. As LXT's README uses it, the parameters keep
requires_grad (the backward also computes weight gradients); --frozen turns that off first (LXT's best case).
"""
import json
import resource
import sys
import time

import torch

model_dir, method, threads, STORY = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if threads > 0:
    torch.set_num_threads(threads)

from lxt.efficient import monkey_patch  # noqa: E402
from transformers import AutoConfig, AutoTokenizer  # noqa: E402

model_type = AutoConfig.from_pretrained(model_dir).model_type
if model_type == "llama":
    from lxt.efficient.models.llama import attnLRP, cp_LRP
    from transformers import LlamaForCausalLM as cls
    from transformers.models.llama import modeling_llama as module
else:
    from lxt.efficient.models.gpt2 import attnLRP, cp_LRP
    from transformers import GPT2LMHeadModel as cls
    from transformers.models.gpt2 import modeling_gpt2 as module
monkey_patch(module, attnLRP if method == "attn_lrp" else cp_LRP)


from bench_texts import prefix_with_tokens  # noqa: E402


frozen = "--frozen" in sys.argv[5:]
model = cls.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()
for p in model.parameters():
    p.requires_grad_(not frozen)
tok = AutoTokenizer.from_pretrained(model_dir)
prompt = prefix_with_tokens(tok, STORY, 20)
ids = tok(prefix_with_tokens(tok, STORY, 40)).input_ids
start = len(tok(prompt).input_ids)
embedding = model.get_input_embeddings()
t0 = time.perf_counter()
total = 0.0
for t in range(start, len(ids)):
    x = embedding(torch.tensor([ids[:t]])).detach().requires_grad_(True)  # [1, t, hidden]
    logit = model(inputs_embeds=x, use_cache=False).logits[0, -1, ids[t]]
    logit.backward()
    total += float((x.grad * x).sum())
seconds = time.perf_counter() - t0
print(json.dumps({
    "engine": "lxt 2.1" + (" (frozen parameters)" if frozen else ""), "method": method, "threads": threads, "seconds": round(seconds, 3),
    "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "steps": len(ids) - start,
    "relevanceSum": total,
}))
