#!/usr/bin/env python3
"""Write golden `discretized_integrated_gradients` (DIG) attributions computed by the real Python Inseq 0.7.1.

Run with the venv that has inseq (+ scikit-learn, joblib) installed:

    /opt/inseq-py/venv/bin/python scripts/reference/make_inseq_dig_goldens.py [--only MODEL] [--case SUBSTR]

Writes `test/fixtures/inseq-golden-dig/<model>/<case>.json` (each the file written by Inseq's own
`FeatureAttributionOutput.save(path, overwrite=True)`, float32 scores) and `test/fixtures/inseq-golden-dig/index.json`,
compared by test/model/inseq-golden-dig.test.ts.

Conventions as make_inseq_goldens.py (one CPU thread, deterministic algorithms, a fresh model per case, seeds reset
before every attribute() call, info.exec_time forced to 0.0). DIG specifics:
  - k = 50 (Inseq's default; the tiny checkpoints have 300-row embedding tables). Inseq 0.7.1 cannot be given another
    k: `load_model(..., n_neighbors=10)` reaches DiscretizedIntegratedGradientsAttribution.hook, whose
    extract_signature_args keeps only the named parameters of load_monotonic_path_builder (n_neighbors,
    save_cache and overwrite_cache sit in its **kwargs), so they are dropped silently and the graph has 50
    neighbours whatever was asked (checked here: the script asserts the graph's row length);
  - Inseq's kNN cache dir is $INSEQ_ARTIFACTS_CACHE/dig_knn: pointed into a fresh temporary directory, so no stale
    pickle from another model with the same name is ever read;
  - one sentence per case: `*_b3` cases record Inseq's batched output next to the single-sentence ones, and
    index.json says whether they agree (Inseq issue #113: DIG is inconsistent across batch sizes).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "test" / "fixtures" / "inseq-golden-dig"
SEED = 0
N_STEPS = 8
N_NEIGHBORS = 50

# Inseq reads INSEQ_ARTIFACTS_CACHE when it is imported: set it first.
os.environ["INSEQ_ARTIFACTS_CACHE"] = tempfile.mkdtemp(prefix="inseq-dig-goldens-")

_spec = importlib.util.spec_from_file_location("make_inseq_goldens", Path(__file__).with_name("make_inseq_goldens.py"))
_old = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_old)

import torch  # noqa: E402

DEC_ONLY = {m: _old.MODELS[m] for m in ("gpt2", "llama")}
# bart: no embedding scale, one shared table (Marian's goldens carry Inseq's double decoder scaling under
# transformers 5, see make_inseq_seq2seq_goldens.py MARIAN_NOTE).
ENC_DEC = {"bart": {"path": "test/fixtures/reference-seq2seq/bart", "sources": ["So Ben too", "Onc"], "targets": ["And that'", "said,"]}}

METHOD = "discretized_integrated_gradients"


def cases_for(kind: str) -> list[dict]:
    out = []

    def add(name, strategy, sentence=0, batch=1, **kw):
        out.append({"case": name, "strategy": strategy, "sentence": sentence, "batch": batch, **kw})

    n_sent = 3 if kind == "decoder-only" else 2
    for strategy in ("greedy", "maxcount"):
        for s in range(n_sent):
            add(f"dig_{strategy}_forced_s{s}", strategy, s)
        if kind == "encoder-decoder":
            for s in range(n_sent):
                add(f"dig_{strategy}_target_forced_s{s}", strategy, s, attribute_target=True)
        add(f"dig_{strategy}_forced_b{n_sent}", strategy, 0, n_sent)
    add("dig_greedy_mbi_forced_s0", "greedy", 0, multiply_by_inputs=True)
    for strategy in ("greedy", "maxcount"):
        add(f"dig_{strategy}_k10_forced_s0", strategy, 0, k=10)
    add("dig_greedy_delta_forced_s0", "greedy", 0, return_convergence_delta=True)
    return out


K_SHIM_NOTE = (
    "n_neighbors=10 through a shim: Inseq 0.7.1 drops n_neighbors given to load_model (see the module docstring), so "
    "MonotonicPathBuilder.load's n_neighbors default is set to 10 for the duration of this case only."
)


@contextlib.contextmanager
def knn_size(k: int | None):
    """MonotonicPathBuilder.load with n_neighbors=k by default (k None: unchanged)."""
    if k is None:
        yield
        return
    from inseq.attr.feat.ops.monotonic_path_builder import MonotonicPathBuilder

    orig = MonotonicPathBuilder.__dict__["load"]
    MonotonicPathBuilder.load = classmethod(functools.partial(orig.__func__, n_neighbors=k))
    try:
        yield
    finally:
        MonotonicPathBuilder.load = orig


def max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b| over the cells that are not NaN in both."""
    m = ~(a.isnan() | b.isnan())
    if not m.any():
        return 0.0
    return float((a[m] - b[m]).abs().max() / b[m].abs().max().clamp_min(1e-12))


def main():
    args = _old.parse_args()
    _old.setup_runtime()
    import inseq

    partial_run, old_index, index_path = _old.prepare_out_dir(OUT_DIR, args)
    plan = [(m, cfg["path"], "decoder-only", cfg["prompts"], cfg["forced"]) for m, cfg in DEC_ONLY.items()]
    plan += [(m, cfg["path"], "encoder-decoder", cfg["sources"], cfg["targets"]) for m, cfg in ENC_DEC.items()]
    entries = []
    singles: dict[tuple[str, str, int], object] = {}
    for model_key, path, kind, inputs, targets in plan:
        if args.only and model_key != args.only:
            continue
        (OUT_DIR / model_key).mkdir(exist_ok=True)
        for c in cases_for(kind):
            if args.case and args.case not in c["case"]:
                continue
            batch, s = c["batch"], c["sentence"]
            ins = inputs[s : s + batch] if batch == 1 else inputs[:batch]
            tgts = targets[s : s + batch] if batch == 1 else targets[:batch]
            attribute_kwargs = {"attribution_args": {"n_steps": N_STEPS, "method": c["strategy"]}}
            if c.get("return_convergence_delta"):
                attribute_kwargs["return_convergence_delta"] = True
            load_kwargs = {"attribution_method": METHOD, "device": "cpu"}
            if c.get("multiply_by_inputs"):
                load_kwargs["multiply_by_inputs"] = True
            rel_file = f"{model_key}/{c['case']}.json"
            entry = {
                "model": model_key,
                "model_path": path,
                "model_kind": kind,
                "case": c["case"],
                "file": rel_file,
                "method": METHOD,
                "attributed_fn": None,
                "attribute_target": bool(c.get("attribute_target")),
                "step_scores": [],
                "forced": True,
                "batch": batch,
                "input_texts": ins,
                "generated_texts": tgts,
                "generation_args": {},
                "attribute_kwargs": attribute_kwargs,
                "load_model_kwargs": load_kwargs,
                "include_eos_baseline": False,
                "seed": SEED,
                "n_neighbors": c.get("k", N_NEIGHBORS),
                "inseq_compat_patches": "k" in c,
                "notes": [],
            }
            print(f"[{model_key}] {c['case']} ...", flush=True)
            try:
                lk = {k: v for k, v in load_kwargs.items() if k not in ("attribution_method", "device")}
                with knn_size(c.get("k")):
                    model = inseq.load_model(path, METHOD, device="cpu", **lk)
                model.model.eval()
                knn = model.attribution_method.method.path_builder.knn_graph
                assert all(knn[i].nnz == entry["n_neighbors"] for i in range(knn.shape[0])), "unexpected kNN size"
                if "k" in c:
                    entry["notes"].append(K_SHIM_NOTE)
                _old.seed_all()
                kw = dict(attribute_kwargs)
                if kind == "encoder-decoder":
                    kw["attribute_target"] = bool(c.get("attribute_target"))
                out = model.attribute(ins if batch > 1 else ins[0], tgts if batch > 1 else tgts[0], show_progress=False, **kw)
                entry["summary"] = _old.summarize(out)
                if batch == 1 and not c.get("attribute_target") and not c.get("multiply_by_inputs") and not c.get("return_convergence_delta"):
                    singles[(model_key, c["strategy"], s)] = out
                if batch > 1:
                    # Inseq issue #113: compare the batched run with the single-sentence goldens
                    diffs = []
                    for k, seq in enumerate(out.sequence_attributions):
                        ref = singles.get((model_key, c["strategy"], k))
                        if ref is None:
                            continue
                        r = ref.sequence_attributions[0]
                        for name in ("source_attributions", "target_attributions"):
                            x, y = getattr(seq, name), getattr(r, name)
                            if x is None or y is None:
                                continue
                            if x.shape != y.shape:
                                diffs.append(float("inf"))
                            else:
                                diffs.append(max_rel_diff(x.float(), y.float()))
                    entry["batched_vs_single_max_rel_diff"] = max(diffs) if diffs else None
                    entry["notes"].append(
                        "Inseq's batched run, next to the single-sentence goldens (*_s<k>): batched_vs_single_max_rel_diff "
                        "is max |batched - single| / max |single| over the sequences (Inseq issue #113)."
                    )
                if c.get("return_convergence_delta"):
                    entry["notes"].append(
                        "Inseq's DIG passes (inputs, baselines) as Captum's (start_point, end_point), so its 'deltas' are "
                        "sum(attributions) - (f(baseline) - f(input)) = sum + f(x) - f(b): the sign of f(x) - f(b) flipped."
                    )
                out.info["exec_time"] = 0.0
                out.save(str(OUT_DIR / rel_file), overwrite=True)
                entry["bytes"] = (OUT_DIR / rel_file).stat().st_size
            except Exception as e:  # noqa: BLE001
                print(traceback.format_exc(), file=sys.stderr)
                entry["file"] = None
                entry["error"] = f"{type(e).__name__}: {e}"
            entries.append(entry)

    if partial_run:
        entries = _old.merge_partial(entries, old_index, [p[0] for p in plan])
    index = {
        "description": "discretized_integrated_gradients goldens written by Python Inseq's FeatureAttributionOutput.save("
        "path, overwrite=True) (float32), n_steps=8, n_neighbors=50 (the only k Inseq 0.7.1 uses, see the script). info.exec_time forced to 0.0. See "
        "scripts/reference/make_inseq_dig_goldens.py.",
        "versions": _old.package_versions(("inseq", "captum", "torch", "transformers", "tokenizers", "numpy", "scikit-learn", "joblib")),
        "seed": SEED,
        "n_steps": N_STEPS,
        "n_neighbors": N_NEIGHBORS,
        "cases": entries,
    }
    _old.write_index(index_path, index, OUT_DIR)


if __name__ == "__main__":
    main()
