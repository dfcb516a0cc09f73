"""Python Inseq 0.7.1's attribute-context (PECoRe) on the same checkpoint and texts as bench/attribute-context-run.mjs
(one JSON line).

    python bench/inseq_attribute_context.py <model_dir> <threads> <context> <current> <output>
"""
import json
import logging
import resource
import sys
import time
import warnings

import torch

model_dir, threads, context, current, output = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
if threads > 0:
    torch.set_num_threads(threads)
logging.basicConfig(level=logging.ERROR)
warnings.filterwarnings("ignore")
import inseq  # noqa: E402
from inseq.commands.attribute_context.attribute_context import attribute_context_with_model  # noqa: E402
from inseq.commands.attribute_context.attribute_context_args import AttributeContextArgs  # noqa: E402

model = inseq.load_model(model_dir, "saliency", device="cpu")


def args():
    return AttributeContextArgs(
        model_name_or_path=model_dir, input_context_text=context, input_current_text=current, output_current_text=output,
        attributed_fn="contrast_prob_diff", context_sensitivity_metric="kl_divergence", show_viz=False,
        handle_output_context_strategy="auto",
    )


attribute_context_with_model(args(), model)  # warm-up
t0 = time.perf_counter()
out = attribute_context_with_model(args(), model)
seconds = time.perf_counter() - t0
print(json.dumps({
    "engine": "python-inseq-0.7.1", "threads": threads, "seconds": round(seconds, 3),
    "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "ctiTokens": len(out.cti_scores), "cciTokens": len(out.cci_scores), "torch": torch.__version__,
}))
