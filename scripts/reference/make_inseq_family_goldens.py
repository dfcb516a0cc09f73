#!/usr/bin/env python3
"""Python Inseq 0.7.1 goldens for each native model family's reference checkpoint: saliency (batch 1 and 3),
integrated gradients, attention and value zeroing, forced decoding, one directory per checkpoint.

    /opt/inseq-py/venv/bin/python scripts/reference/make_inseq_family_goldens.py NAME [NAME ...] [--case SUBSTR]

NAME is a checkpoint directory written by make_checkpoints.py (test/fixtures/reference/NAME, decoder-only) or
make_seq2seq_checkpoints.py (test/fixtures/reference-seq2seq/NAME, encoder-decoder). Writes
`test/fixtures/inseq-golden-families/NAME/<case>.json` (each file saved by Inseq's own
`FeatureAttributionOutput.save`, float32 scores) and `test/fixtures/inseq-golden-families/NAME/index.json`
(the same entry format as make_inseq_goldens.py / make_inseq_seq2seq_goldens.py). Each NAME is rewritten whole;
other directories are left alone, so families can be added one at a time. test/model/inseq-golden-families.test.ts
compares every directory it finds.

Texts: the decoder-only prompts and forced continuations of make_inseq_goldens.py (the shared byte-level BPE
tokenizer of make_checkpoints.py); the encoder-decoder sources and targets of make_inseq_seq2seq_goldens.py.

value_zeroing runs with the two shims of make_inseq_seq2seq_goldens.py (transformers 5 layers return a Tensor;
GPT-2's value variable) and, where Inseq 0.7.1's model_config.yaml lacks the architecture or names a variable
transformers 5 no longer has, a registered model config (FAMILY_VZ_CONFIGS, listed in each entry's notes).
Deterministic: one thread, deterministic algorithms, a fresh model and seed 0 before every attribute().
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import shutil
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "test" / "fixtures" / "inseq-golden-families"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_dec = _load("make_inseq_goldens")
_s2s = _load("make_inseq_seq2seq_goldens")

DEC_TEXTS = _dec.MODELS["gpt2"]  # prompts / forced of the shared tokenizer
IG_ARGS = {"attribution_args": {"n_steps": 8, "method": "gausslegendre"}}

# Architectures whose value vector Inseq 0.7.1 cannot find on transformers 5.24 without a registered config:
# absent from its model_config.yaml (Qwen3, OLMo 2), or named `value` there while the attention code now says
# `value_states` (GPT-NeoX).
FAMILY_VZ_CONFIGS = {
    "Qwen3ForCausalLM": {"self_attention_module": "self_attn", "value_vector": "value_states"},
    "Olmo2ForCausalLM": {"self_attention_module": "self_attn", "value_vector": "value_states"},
    "GPTNeoXForCausalLM": {"self_attention_module": "attention", "value_vector": "value_states"},
}


def cases(kind: str) -> list[dict]:
    out = [
        {"case": "saliency_forced_b1", "method": "saliency", "batch": 1, "attribute_kwargs": {}},
        {"case": "integrated_gradients_forced_b1", "method": "integrated_gradients", "batch": 1, "attribute_kwargs": dict(IG_ARGS)},
        {"case": "attention_forced_b1", "method": "attention", "batch": 1, "attribute_kwargs": {}},
        {"case": "value_zeroing_forced_b1", "method": "value_zeroing", "batch": 1, "attribute_kwargs": {}},
    ]
    if kind == "decoder-only":
        out.insert(1, {"case": "saliency_forced_b3", "method": "saliency", "batch": 3, "attribute_kwargs": {},
                       "step_scores": ["probability"]})
    else:
        out.insert(1, {"case": "saliency_target_forced_b1", "method": "saliency", "batch": 1, "attribute_kwargs": {},
                       "attribute_target": True, "step_scores": ["probability"]})
        out.append({"case": "value_zeroing_target_forced_b1", "method": "value_zeroing", "batch": 1,
                    "attribute_kwargs": {}, "attribute_target": True})
    return out


def locate(name: str) -> tuple[str, str]:
    for sub, kind in (("reference", "decoder-only"), ("reference-seq2seq", "encoder-decoder")):
        path = REPO / "test" / "fixtures" / sub / name
        if (path / "config.json").exists():
            return f"test/fixtures/{sub}/{name}", kind
    raise SystemExit(f"no checkpoint test/fixtures/reference[-seq2seq]/{name}")


@contextlib.contextmanager
def family_vz_configs(architecture: str, notes: list[str]):
    import inseq
    from inseq.models import model_config as mc

    cfg = FAMILY_VZ_CONFIGS.get(architecture)
    if cfg is None:
        yield
        return
    previous = mc.MODEL_CONFIGS.get(architecture)
    logging.getLogger("inseq.models.model_config").setLevel(logging.ERROR)
    inseq.register_model_config(architecture, dict(cfg), overwrite=True, allow_partial=True)
    notes.append(f"value_zeroing: registered model config {architecture} = {cfg} (Inseq 0.7.1 has "
                 f"{'none' if previous is None else 'value_vector ' + repr(getattr(previous, 'value_vector', None))}).")
    try:
        yield
    finally:
        if previous is None:
            mc.MODEL_CONFIGS.pop(architecture, None)
        else:
            mc.MODEL_CONFIGS[architecture] = previous


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="+")
    ap.add_argument("--case", help="only cases whose name contains this")
    args = ap.parse_args()
    _dec.setup_runtime()

    import inseq

    for name in args.names:
        path, kind = locate(name)
        architecture = json.loads((REPO / path / "config.json").read_text())["architectures"][0]
        out_dir = OUT_DIR / name
        if not args.case and out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if kind == "decoder-only":
            sources, targets = DEC_TEXTS["prompts"], DEC_TEXTS["forced"]
        else:
            sources, targets = [_s2s.SRC_1, _s2s.SRC_2], [_s2s.TGT_1, _s2s.TGT_2]
        entries = []
        for c in cases(kind):
            if args.case and args.case not in c["case"]:
                continue
            batch, method = c["batch"], c["method"]
            entry = {
                "model": name, "model_path": path, "model_kind": kind, "architecture": architecture,
                "case": c["case"], "file": f"{c['case']}.json", "method": method, "attributed_fn": None,
                "attribute_target": c.get("attribute_target", False), "step_scores": c.get("step_scores", []),
                "forced": True, "batch": batch, "input_texts": sources[:batch], "generated_texts": targets[:batch],
                "generation_args": {}, "attribute_kwargs": c["attribute_kwargs"], "include_eos_baseline": False,
                "inseq_compat_patches": method == "value_zeroing", "seed": _dec.SEED, "notes": [],
            }
            print(f"[{name}] {c['case']} ...", flush=True)
            vz = method == "value_zeroing"
            try:
                with (_s2s.value_zeroing_compat() if vz else contextlib.nullcontext()), \
                        (family_vz_configs(architecture, entry["notes"]) if vz else contextlib.nullcontext()):
                    model = inseq.load_model(str(REPO / path), method, device="cpu")
                    model.model.eval()
                    extra = {"attribute_target": entry["attribute_target"]} if kind == "encoder-decoder" else {}
                    _dec.seed_all()
                    out = model.attribute(
                        sources[:batch] if batch > 1 else sources[0],
                        targets[:batch] if batch > 1 else targets[0],
                        step_scores=entry["step_scores"], include_eos_baseline=False, show_progress=False,
                        **extra, **c["attribute_kwargs"],
                    )
                if vz:
                    entry["notes"].append(_s2s.VZ_COMPAT_NOTE.replace("; see *_unpatched_* for the errors", ""))
                entry["summary"] = _dec.summarize(out)
                out.info["exec_time"] = 0.0
                out.info["model_name"] = path  # not the absolute path of the machine that wrote it
                out.save(str(out_dir / entry["file"]), overwrite=True)
                entry["bytes"] = (out_dir / entry["file"]).stat().st_size
            except Exception as e:  # noqa: BLE001
                print(traceback.format_exc(), file=sys.stderr)
                entry["file"] = None
                entry["error"] = f"{type(e).__name__}: {e}"
            entries.append(entry)
        index_path = out_dir / "index.json"
        if args.case and index_path.exists():
            entries = _dec.merge_partial(entries, json.loads(index_path.read_text())["cases"], [name])
        index = {
            "description": f"Python Inseq 0.7.1 goldens for {path} (scripts/reference/make_inseq_family_goldens.py).",
            "versions": _dec.package_versions(("inseq", "captum", "torch", "transformers", "tokenizers", "safetensors", "numpy")),
            "seed": _dec.SEED,
            "cases": entries,
        }
        _dec.write_index(index_path, index, out_dir)


if __name__ == "__main__":
    main()
