#!/usr/bin/env python3
"""Reference data for our `reagent` method from Python Inseq 0.7.1 and NLTK.

    /opt/inseq-py/venv/bin/python scripts/reference/make_inseq_reagent_reference.py [--nltk-pickle FILE] [--seeds 8]

Writes test/fixtures/reagent/:
  - nltk-tags-gpt2.json.gz, nltk-tags-stories260K.json.gz: per vocabulary id the Penn tag NLTK's averaged
    perceptron gives `tokenizer.decode([id]).strip()` in isolation, exactly as Inseq's POSTagTokenSampler builds
    its table (test/model/reagent-pos.test.ts measures our tagger's agreement with these);
  - inseq-stories260K.json: Python Inseq's `reagent` on the trained stories260K Llama
    (/work/shared/fixtures/hf-stories260K), a few prompts with greedy continuations, run with seeds 0..K-1
    (torch.manual_seed before each attribute()); per prompt the tokens and the mean over seeds of Inseq's
    aggregated target attributions [prefix, generated] (rows past each step's prefix NaN). ReAGent is random,
    so test/model/reagent-inseq.test.ts compares rankings of mean-over-seeds scores, not numbers.

NLTK's tagger data: nltk >= 3.9 reads taggers/averaged_perceptron_tagger_eng/*.json under NLTK_DATA. Where
nltk.download() cannot reach GitHub, pass --nltk-pickle with averaged_perceptron_tagger.pickle from
nltk_data's packages/taggers/averaged_perceptron_tagger.zip (the same weights, older format): the script
converts it to the JSON files in a temporary NLTK_DATA directory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import pickle
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test" / "fixtures" / "reagent"
SHARED = Path("/work/shared/fixtures")
if not SHARED.exists():
    SHARED = REPO.parent / "shared" / "fixtures"
STORIES = SHARED / "hf-stories260K"
GPT2_TOK = SHARED / "hf-gpt2-tokenizer"

PROMPTS = [
    "Once upon a time, there was a little girl named Lily. She",
    "Tom and his mom went to the park. They saw a big",
    "The cat was very hungry, so it looked for some",
]
NEW_TOKENS = 5
OPTIONS = dict(keep_top_n=5, stopping_condition_top_k=3, replacing_ratio=0.3, max_probe_steps=1000, num_probes=16)


def setup_nltk(pickle_path: str | None) -> None:
    if pickle_path:
        d = Path(tempfile.mkdtemp(prefix="nltk_data_")) / "taggers" / "averaged_perceptron_tagger_eng"
        d.mkdir(parents=True)
        with open(pickle_path, "rb") as f:
            weights, tagdict, classes = pickle.load(f)  # nltk_data's own file
        name = "averaged_perceptron_tagger_eng"
        (d / f"{name}.weights.json").write_text(json.dumps(weights))
        (d / f"{name}.tagdict.json").write_text(json.dumps(tagdict))
        (d / f"{name}.classes.json").write_text(json.dumps(sorted(classes)))
        os.environ["NLTK_DATA"] = str(d.parents[1])
    import nltk

    nltk.data.path.insert(0, os.environ.get("NLTK_DATA", ""))
    nltk.pos_tag(["test"])  # fails here when the tagger data is missing


def vocab_tags(tokenizer) -> list[str]:
    import nltk

    # As inseq/attr/feat/ops/reagent_core/token_sampler.py: each id decoded alone, stripped, tagged alone.
    return [nltk.pos_tag([tokenizer.decode([i]).strip()])[0][1] for i in range(tokenizer.vocab_size)]


def write_tags(name: str, tokenizer) -> None:
    tags = vocab_tags(tokenizer)
    with gzip.open(OUT / f"nltk-tags-{name}.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"tokenizer": name, "vocab_size": tokenizer.vocab_size, "tags": tags}, f)
    print(f"{name}: {len(tags)} tags, {len(set(tags))} distinct")


def nan_to_none(rows):
    return [[None if (isinstance(v, float) and math.isnan(v)) else v for v in row] for row in rows]


def inseq_runs(seeds: int) -> dict:
    import inseq
    import torch

    torch.set_num_threads(1)
    model = inseq.load_model(str(STORIES), "reagent", **OPTIONS)
    cases = []
    for prompt in PROMPTS:
        runs = []
        tokens = None
        generated = None
        for s in range(seeds):
            torch.manual_seed(s)
            # "<s> " + prompt: Inseq 0.7.1 decodes a single prompt's generation with its BOS and then fails its
            # startswith(prompt) check (make_inseq_goldens.py GEN_B1_BOS_NOTE); the ids are the same.
            out = model.attribute("<s> " + prompt, generation_args={"max_new_tokens": NEW_TOKENS, "do_sample": False}, show_progress=False)
            seq = out.sequence_attributions[0]
            agg = seq.aggregate()  # Inseq's default aggregation (vnorm over the repeated hidden dim, then L1)
            t = agg.target_attributions.float()  # [prefix + generated, generated]
            runs.append(t)
            tokens = [tok.token for tok in seq.target]
            ids = [tok.id for tok in seq.target]
            generated = out.info.get("generated_texts") if hasattr(out, "info") else None
        mean = torch.stack(runs).mean(0)
        cases.append({
            "prompt": prompt, "tokens": tokens, "ids": ids, "attr_pos_start": seq.attr_pos_start,
            "attr_pos_end": seq.attr_pos_end, "generated_texts": generated,
            "mean_scores": nan_to_none(mean.tolist()),
            "per_seed_top1": [[int(torch.nan_to_num(r[:, j], nan=-1).argmax()) for j in range(r.shape[1])] for r in runs],
        })
        print(prompt, "->", "".join(tokens))
    import importlib.metadata as md

    return {"model": "hf-stories260K", "inseq_version": md.version("inseq"), "options": OPTIONS, "seeds": seeds,
            "new_tokens": NEW_TOKENS, "cases": cases}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nltk-pickle", default=None)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--skip-tags", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    setup_nltk(args.nltk_pickle)
    from transformers import AutoTokenizer

    if not args.skip_tags:
        write_tags("gpt2", AutoTokenizer.from_pretrained(str(GPT2_TOK)))
        write_tags("stories260K", AutoTokenizer.from_pretrained(str(STORIES)))
    ref = inseq_runs(args.seeds)
    (OUT / "inseq-stories260K.json").write_text(json.dumps(ref, indent=1) + "\n")


if __name__ == "__main__":
    main()
