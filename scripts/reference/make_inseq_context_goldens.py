#!/usr/bin/env python3
"""Write golden `attribute-context` (PECoRe) outputs computed by the real Python Inseq 0.7.1.

    /opt/inseq-py/venv/bin/python scripts/reference/make_inseq_context_goldens.py [--case SUBSTR]

Writes `test/fixtures/inseq-golden-context/<case>.json`: each file is Inseq's own
`AttributeContextOutput.to_dict()` (what `inseq attribute-context --save_path` writes) computed by
`attribute_context_with_model` on the tiny random checkpoints (gpt2 for decoder-only, bart for
encoder-decoder), and `index.json` with the arguments of every case. One CPU thread, deterministic algorithms.

Every case forces the outputs, and the contrastive cases of the encoder-decoder also force the contextless
alternative tokens (`contextless_output_next_tokens`): Inseq 0.7.1 generates them with `decoder_input_ids` that
lack the decoder start token, which we do not reproduce (see docs/attribute-context.md). The `cli_*` case runs the
`inseq attribute-context` command line of Inseq's documentation (model path replaced, output saved with -o).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
import logging
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "test" / "fixtures" / "inseq-golden-context"
GPT2 = "test/fixtures/reference/gpt2"
# not marian: with transformers 5 Inseq scales Marian's decoder embeddings twice (see inseq-golden-seq2seq.test.ts)
BART = "test/fixtures/reference-seq2seq/bart"
# a tiny trained Llama (TinyStories): its generations are real text, unlike the random checkpoints'
STORIES = "/work/shared/fixtures/hf-stories260K"
METRICS = ["kl_divergence", "pcxmi", "contrast_logits", "contrast_prob", "contrast_logits_diff", "contrast_prob_diff", "in_context_pvi"]

DEC = dict(
    input_context_text="George was sick yesterday.",
    input_current_text="His colleagues asked him to come",
    output_current_text="to the hospital. He said he was fine",
)
ENC = dict(input_context_text="Ben was sad.", input_current_text="So Ben too", output_current_text="And that was it")


def cases() -> list[dict]:
    out = []
    for m in METRICS:
        out.append(dict(case=f"gpt2_{m}", model=GPT2, context_sensitivity_metric=m, **DEC))
        out.append(dict(case=f"bart_{m}", model=BART, context_sensitivity_metric=m, **ENC))
    # contrastive CCI: the alternative token is generated greedily from the contextless prefix (decoder-only)
    out.append(dict(case="gpt2_contrastive", model=GPT2, attributed_fn="contrast_prob_diff", context_sensitivity_topk=2, **DEC))
    # kl_divergence as the attributed function: contrast_force_inputs
    out.append(dict(case="gpt2_kl_attributed", model=GPT2, attributed_fn="kl_divergence", context_sensitivity_topk=1, **DEC))
    # input + output context (decoder-only CoT style)
    out.append(dict(case="gpt2_output_context", model=GPT2, input_context_text="George was sick yesterday.",
                    input_current_text="His colleagues asked him if", output_context_text="something was wrong. He said",
                    output_current_text="he was fine.", attributed_fn="contrast_prob_diff", context_sensitivity_std_threshold=0.0))
    # custom template and lambda / top-k
    out.append(dict(case="gpt2_template_topk", model=GPT2, input_context_text="Ben likes cats.", input_current_text="Does Ben like cats?",
                    input_template="Context: {context}\nQuestion: {current}", output_current_text="Yes, he does.",
                    decoder_input_output_separator="\n", context_sensitivity_std_threshold=0.5, context_sensitivity_topk=2))
    # generated output (setting 4), greedy, few tokens
    out.append(dict(case="stories_generated", model=STORIES, input_context_text="Lily was sad.",
                    input_current_text="Tom said", generation_kwargs={"max_new_tokens": 6}))
    # CCI aggregation as Inseq's CLI: aggregators (+ normalize), aggregators with selectors (+ rescale)
    out.append(dict(case="gpt2_aggregators", model=GPT2, attribution_aggregators=["sum"], normalize_attributions=True, **DEC))
    out.append(dict(case="gpt2_selectors", model=GPT2, attribution_method="input_x_gradient", attribution_aggregators=["sum"],
                    attribution_selectors=[0], rescale_attributions=True, context_sensitivity_topk=2, **DEC))
    # a special separator kept in texts and tokens (as <brk> for context-aware MT models)
    out.append(dict(case="gpt2_special_kept", model=GPT2, input_context_text="George was sick yesterday.",
                    input_current_text="His colleagues asked him if", input_template="{context}<|endoftext|>{current}",
                    output_current_text="he was fine.", special_tokens_to_keep=["<|endoftext|>"],
                    attributed_fn="contrast_prob_diff", context_sensitivity_topk=2))
    # generated output split into context / current by the template separator (setting 5, "auto")
    out.append(dict(case="stories_split", model=STORIES, input_context_text="Lily was sad.", input_current_text="Tom said",
                    output_template="{context} {current}", generation_kwargs={"max_new_tokens": 7}, context_sensitivity_std_threshold=0.0))
    # encoder-decoder: forced contrastive alternatives, output context, attribution on the target
    out.append(dict(case="bart_contrastive_forced", model=BART, attributed_fn="contrast_prob_diff",
                    contextless_output_next_tokens=["Bob"], context_sensitivity_topk=1, **ENC))
    out.append(dict(case="bart_output_context", model=BART, input_context_text="Ben was sad.", input_current_text="So Ben too",
                    output_context_text="Tom was sad.", output_current_text="And that was it", context_sensitivity_std_threshold=0.0))
    return out


def cli_case() -> dict:
    # Inseq's documented example (attribute_context.py module docstring), the model path replaced
    argv = ["attribute-context", "--model_name_or_path", STORIES, "--input_context_text", "George was sick yesterday.",
            "--input_current_text", "His colleagues asked him", "--attributed_fn", "contrast_prob_diff"]
    return dict(case="cli_docs_example", argv=argv)


STATS = ["min_cti", "max_cti", "mean_cti", "std_cti", "min_cci", "max_cci", "mean_cci", "std_cci"]


def interop() -> dict:
    """Every JSON file of the directory (Inseq's goldens and `ours_*.json`, written by our library) read back by
    Inseq's `AttributeContextOutput.from_dict`: whether `to_dict()` gives the same dict again, and Inseq's stats."""
    from inseq.commands.attribute_context.attribute_context_helpers import AttributeContextOutput

    out = {}
    for f in sorted(OUT_DIR.glob("*.json")):
        if f.name == "index.json":
            continue
        raw = json.loads(f.read_text())
        obj = AttributeContextOutput.from_dict(raw)
        again = json.loads(json.dumps(obj.to_dict()))
        out[f.name] = {"roundtrip_equal": again == raw, "stats": {k: float(getattr(obj, k)) for k in STATS}}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--interop", action="store_true", help="only re-check every file with Inseq's from_dict / to_dict and stats")
    a = ap.parse_args()
    os.chdir(REPO)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")
    import inseq
    from inseq.commands.attribute_context.attribute_context import attribute_context_with_model
    from inseq.commands.attribute_context.attribute_context_args import AttributeContextArgs

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    index_path = OUT_DIR / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"cases": []}
    if a.interop:
        index["interop"] = interop()
        index_path.write_text(json.dumps(index, indent=2) + "\n")
        return
    by_name = {c["case"]: c for c in index["cases"]}
    for c in cases():
        if a.case and a.case not in c["case"]:
            continue
        kw = {k: v for k, v in c.items() if k not in ("case", "model")}
        print(f"[{c['case']}] ...", flush=True)
        model = inseq.load_model(c["model"], "saliency", device="cpu")
        model.model.eval()
        torch.manual_seed(0)
        args = AttributeContextArgs(model_name_or_path=c["model"], show_viz=False, handle_output_context_strategy="auto", **kw)
        out = attribute_context_with_model(args, model)
        (OUT_DIR / f"{c['case']}.json").write_text(json.dumps(out.to_dict(), indent=4) + "\n")
        by_name[c["case"]] = {"case": c["case"], "file": f"{c['case']}.json", "model": c["model"], "args": kw}
    cc = cli_case()
    if not a.case or a.case in cc["case"]:
        print(f"[{cc['case']}] ...", flush=True)
        path = OUT_DIR / f"{cc['case']}.json"
        cmd = [str(Path(sys.executable).parent / "inseq"), *cc["argv"], "--no_show_viz", "-o", str(path)]
        subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        by_name[cc["case"]] = {"case": cc["case"], "file": path.name, "model": STORIES, "argv": cc["argv"], "cli": True}
    index["cases"] = sorted(by_name.values(), key=lambda c: c["case"])
    import importlib.metadata as md
    index["versions"] = {p: md.version(p) for p in ("inseq", "transformers", "torch")}
    index["interop"] = interop()
    index_path.write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    main()
