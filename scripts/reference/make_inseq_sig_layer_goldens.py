#!/usr/bin/env python3
"""Write golden attribution files computed by the real Python Inseq 0.7.1 for
`sequential_integrated_gradients` (decoder-only gpt2 / llama, encoder-decoder
bart / mbart / m2m_100) and for the layer methods at a *block* (`target_layer`)
on the encoder-decoders (and, for comparison, on gpt2 / llama).

Companion of make_inseq_goldens.py / make_inseq_seq2seq_goldens.py (same
conventions, models and texts). Run with the venv that has inseq installed:

    /opt/inseq-py/venv/bin/python scripts/reference/make_inseq_sig_layer_goldens.py [--only MODEL] [--case SUBSTR]

Writes `test/fixtures/inseq-golden-sig/<model>/<case>.json` (each one is the
file written by Inseq's own `FeatureAttributionOutput.save(path, overwrite=True)`,
float32 scores) and `test/fixtures/inseq-golden-sig/index.json`. See
scripts/reference/README.md ("Sequential integrated gradients and block-layer goldens").

Deterministic: one CPU thread, torch deterministic algorithms, a fresh model per
case and seeds 0 right before every `attribute()` call; `info.exec_time` = 0.0.

Layer integrated gradients: unmodified Inseq 0.7.1 returns all zeros (its forward
rebuilds the batch from the ids in `additional_forward_args` and ignores the ids
Captum passes, so the baseline forward runs on the real ids). Each such case is
therefore run twice: unmodified (`*_unpatched_*`, zeros, kept as a record) and with
one shim (`BASELINE_IDS_NOTE`) active only for the duration of that case.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import traceback
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "test" / "fixtures" / "inseq-golden-sig"
SEED = 0


def _load(name):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_dec = _load("make_inseq_goldens")
_s2s = _load("make_inseq_seq2seq_goldens")
summarize, seed_all = _dec.summarize, _dec.seed_all

DEC_ONLY = {m: _dec.MODELS[m] for m in ("gpt2", "llama")}
ENC_DEC = ("bart", "mbart", "m2m_100")  # marian: Inseq scales its decoder embeddings twice (seq2seq README)
SRC_1, SRC_2, TGT_1, TGT_2, CONTRAST_1 = _s2s.SRC_1, _s2s.SRC_2, _s2s.TGT_1, _s2s.TGT_2, _s2s.CONTRAST_1
GEN_ARGS = {"max_new_tokens": 5, "do_sample": False}
SIG_ARGS = {"attribution_args": {"n_steps": 8, "method": "gausslegendre"}}
BLOCK_NAMES = {"gpt2": "transformer.h.{}", "llama": "model.layers.{}"}

BASELINE_IDS_NOTE = (
    "Shim for layer_integrated_gradients (Inseq 0.7.1 bug: with attribute_batch_ids the forward rebuilds the batch "
    "from the real ids passed in additional_forward_args and ignores the ids Captum passes as the attributed input, "
    "so Captum's baseline forward runs on the real ids and every score is 0). Active only during the case: the "
    "attribution model's forward uses the ids Captum passes (encoder_input_ids / input_ids := the attributed ids "
    "tensor when it is an integer tensor). Nothing else changes; see the *_unpatched_* case for Inseq as it is."
)
SIG_TARGET_NOTE = (
    "Inseq's SequentialIntegratedGradients asserts that all attributed inputs have the same length (dimension 1) and "
    "runs position i of the source and position i of the target prefix as one path; source (7) and target prefix "
    "lengths differ here, so it fails. Ours runs each source and target position on its own path."
)
LAYER_TARGET_NOTE = "Inseq refuses layer methods with attribute_target=True (ValueError in FeatureAttribution.attribute)."
DECODER_LAYER_NOTE = (
    "target_layer = a decoder block: Captum attributes the decoder block's output [target prefix, d] as if it were "
    "the source input; Inseq fails when it stacks the per-step outputs (their lengths grow with the prefix)."
)


def dec_only_cases(model_key: str) -> list[dict]:
    cfg = DEC_ONLY[model_key]
    block = BLOCK_NAMES[model_key].format(1)
    return [
        {"case": "sig_forced_b1", "method": "sequential_integrated_gradients", "attribute_kwargs": dict(SIG_ARGS)},
        {"case": "sig_forced_b3", "method": "sequential_integrated_gradients", "batch": 3,
         "attribute_kwargs": dict(SIG_ARGS), "step_scores": ["probability"]},
        {"case": "sig_riemann_middle_forced_b1", "method": "sequential_integrated_gradients",
         "attribute_kwargs": {"attribution_args": {"n_steps": 6, "method": "riemann_middle"}}},
        {"case": "sig_no_multiply_forced_b1", "method": "sequential_integrated_gradients",
         "attribute_kwargs": dict(SIG_ARGS), "load_kwargs": {"multiply_by_inputs": False}},
        {"case": "sig_attr_contrast_prob_diff_forced_b1", "method": "sequential_integrated_gradients",
         "attributed_fn": "contrast_prob_diff", "attribute_kwargs": {**SIG_ARGS, "contrast_targets": cfg["contrast"]}},
        {"case": "sig_gen_b1", "method": "sequential_integrated_gradients", "forced": False,
         "attribute_kwargs": dict(SIG_ARGS)},
        {"case": "layer_gradient_x_activation_block1_forced_b1", "method": "layer_gradient_x_activation",
         "attribute_kwargs": {}, "load_kwargs": {"target_layer": block}},
        {"case": "layer_integrated_gradients_block1_forced_b1", "method": "layer_integrated_gradients",
         "attribute_kwargs": dict(SIG_ARGS), "load_kwargs": {"target_layer": block}, "baseline_ids_patch": True},
    ]


def enc_dec_cases() -> list[dict]:
    enc = "model.encoder.layers.{}"
    cases = [
        {"case": "sig_forced_b1", "method": "sequential_integrated_gradients", "attribute_kwargs": dict(SIG_ARGS)},
        {"case": "sig_forced_b2", "method": "sequential_integrated_gradients", "batch": 2,
         "attribute_kwargs": dict(SIG_ARGS),
         "notes": ["Real batch: sources right-padded with <pad>, targets right-padded with <pad>."]},
        {"case": "sig_attr_contrast_prob_diff_forced_b1", "method": "sequential_integrated_gradients",
         "attributed_fn": "contrast_prob_diff", "attribute_kwargs": {**SIG_ARGS, "contrast_targets": CONTRAST_1}},
        {"case": "sig_target_forced_b1", "method": "sequential_integrated_gradients", "attribute_target": True,
         "attribute_kwargs": dict(SIG_ARGS), "notes": [SIG_TARGET_NOTE]},
    ]
    for layer in (0, 1):
        cases.append({"case": f"layer_gradient_x_activation_enc{layer}_forced_b1", "method": "layer_gradient_x_activation",
                      "attribute_kwargs": {}, "load_kwargs": {"target_layer": enc.format(layer)}})
        cases.append({"case": f"layer_integrated_gradients_enc{layer}_forced_b1", "method": "layer_integrated_gradients",
                      "attribute_kwargs": dict(SIG_ARGS), "load_kwargs": {"target_layer": enc.format(layer)},
                      "baseline_ids_patch": True})
    cases += [
        {"case": "layer_gradient_x_activation_enc1_forced_b2", "method": "layer_gradient_x_activation", "batch": 2,
         "attribute_kwargs": {}, "load_kwargs": {"target_layer": enc.format(1)}},
        {"case": "layer_integrated_gradients_enc1_forced_b2", "method": "layer_integrated_gradients", "batch": 2,
         "attribute_kwargs": dict(SIG_ARGS), "load_kwargs": {"target_layer": enc.format(1)}, "baseline_ids_patch": True},
        {"case": "layer_gradient_x_activation_enc1_target_forced_b1", "method": "layer_gradient_x_activation",
         "attribute_target": True, "attribute_kwargs": {}, "load_kwargs": {"target_layer": enc.format(1)},
         "notes": [LAYER_TARGET_NOTE]},
        {"case": "layer_gradient_x_activation_dec1_forced_b1", "method": "layer_gradient_x_activation",
         "attribute_kwargs": {}, "load_kwargs": {"target_layer": "model.decoder.layers.1"}, "notes": [DECODER_LAYER_NOTE]},
    ]
    return cases


def expand_patched(cases: list[dict]) -> list[dict]:
    """A case with baseline_ids_patch is also run unmodified first (Inseq as it is: zeros)."""
    out = []
    for c in cases:
        if c.get("baseline_ids_patch"):
            u = {k: v for k, v in c.items() if k != "baseline_ids_patch"}
            u["case"] = c["case"].replace("layer_integrated_gradients", "layer_integrated_gradients_unpatched", 1)
            u["notes"] = list(c.get("notes", [])) + ["Unmodified Inseq 0.7.1: every score is 0 (see BASELINE_IDS_NOTE)."]
            u["zeros_expected"] = True
            out.append(u)
            p = dict(c)
            p["notes"] = list(c.get("notes", [])) + [BASELINE_IDS_NOTE]
            out.append(p)
        else:
            out.append(c)
    return out


@contextlib.contextmanager
def baseline_ids_compat():
    """BASELINE_IDS_NOTE: the forward reads the ids Captum passes; restored on exit."""
    from inseq.models.decoder_only import DecoderOnlyAttributionModel
    from inseq.models.encoder_decoder import EncoderDecoderAttributionModel

    orig_dec, orig_encdec = DecoderOnlyAttributionModel.forward, EncoderDecoderAttributionModel.forward

    def dec_forward(self, forward_tensor, input_ids, *args, **kwargs):
        if not forward_tensor.is_floating_point():
            input_ids = forward_tensor
        return orig_dec(self, forward_tensor, input_ids, *args, **kwargs)

    def encdec_forward(self, encoder_tensors, decoder_input_embeds, encoder_input_ids, *args, **kwargs):
        if not encoder_tensors.is_floating_point():
            encoder_input_ids = encoder_tensors
        return orig_encdec(self, encoder_tensors, decoder_input_embeds, encoder_input_ids, *args, **kwargs)

    DecoderOnlyAttributionModel.forward = dec_forward
    EncoderDecoderAttributionModel.forward = encdec_forward
    try:
        yield
    finally:
        DecoderOnlyAttributionModel.forward = orig_dec
        EncoderDecoderAttributionModel.forward = orig_encdec


def main():
    args = _dec.parse_args()
    _dec.setup_runtime()

    import inseq
    from transformers import AutoTokenizer

    partial_run, old_index, index_path = _dec.prepare_out_dir(OUT_DIR, args)

    plan = []  # (model_key, path, kind, texts, cases)
    for m, cfg in DEC_ONLY.items():
        texts = {"sources": cfg["prompts"], "targets": cfg["forced"], "gen_source": cfg["prompts"][0]}
        plan.append((m, cfg["path"], "decoder-only", texts, expand_patched(dec_only_cases(m))))
    for m in ENC_DEC:
        texts = {"sources": [SRC_1, SRC_2], "targets": [TGT_1, TGT_2], "gen_source": SRC_1}
        plan.append((m, f"test/fixtures/reference-seq2seq/{m}", "encoder-decoder", texts, expand_patched(enc_dec_cases())))
    model_order = [p[0] for p in plan]

    entries = []
    for model_key, path, kind, texts, cases in plan:
        if args.only and model_key != args.only:
            continue
        (OUT_DIR / model_key).mkdir(exist_ok=True)
        tok = AutoTokenizer.from_pretrained(path)
        if kind == "decoder-only":
            for p, f in zip(texts["sources"], texts["targets"]):
                assert tok(f).input_ids[: len(tok(p).input_ids)] == tok(p).input_ids, (model_key, p, f)
        for c in cases:
            if args.case and args.case not in c["case"]:
                continue
            method = c["method"]
            batch = c.get("batch", 1)
            forced = c.get("forced", True)
            sources = texts["sources"][:batch] if forced else [texts["gen_source"]]
            targets = texts["targets"][:batch] if forced else None
            attribute_kwargs = dict(c.get("attribute_kwargs", {}))
            step_scores = c.get("step_scores", [])
            attribute_target = c.get("attribute_target", False)
            attributed_fn = c.get("attributed_fn")
            load_kwargs = {"attribution_method": method, "device": "cpu", **c.get("load_kwargs", {})}
            rel_file = f"{model_key}/{c['case']}.json"
            entry = {
                "model": model_key,
                "model_path": path,
                "model_kind": kind,
                "case": c["case"],
                "file": rel_file,
                "method": method,
                "attributed_fn": attributed_fn,
                "attribute_target": attribute_target,
                "step_scores": step_scores,
                "forced": forced,
                "batch": batch,
                "input_texts": sources,
                "generated_texts": targets,
                "generation_args": {} if forced else dict(GEN_ARGS),
                "attribute_kwargs": attribute_kwargs,
                "load_model_kwargs": load_kwargs,
                "include_eos_baseline": False,
                "inseq_compat_patches": bool(c.get("baseline_ids_patch")),
                "seed": SEED,
                "notes": list(c.get("notes", [])),
            }
            print(f"[{model_key}] {c['case']} ...", flush=True)
            ctx = baseline_ids_compat() if c.get("baseline_ids_patch") else contextlib.nullcontext()
            try:
                with ctx:
                    model = inseq.load_model(path, method, device="cpu", **c.get("load_kwargs", {}))
                    model.model.eval()
                    call_kwargs = dict(attribute_kwargs)
                    if attributed_fn is not None:
                        call_kwargs["attributed_fn"] = attributed_fn
                    if kind == "encoder-decoder":
                        call_kwargs["attribute_target"] = attribute_target
                    seed_all()
                    out = model.attribute(
                        sources if batch > 1 else sources[0],
                        (targets if batch > 1 else targets[0]) if targets is not None else None,
                        step_scores=step_scores,
                        include_eos_baseline=False,
                        generation_args={} if forced else dict(GEN_ARGS),
                        show_progress=False,
                        **call_kwargs,
                    )
                entry["summary"] = summarize(out)
                if c.get("zeros_expected"):
                    # Recorded, not saved: the file would hold only zeros (and NaN above the frontier).
                    scores = [t for s in out.sequence_attributions for t in (s.source_attributions, s.target_attributions)
                              if t is not None]
                    entry["all_scores_zero"] = all(bool(t.nan_to_num().eq(0).all()) for t in scores)
                    assert entry["all_scores_zero"], (model_key, c["case"])
                    entry["file"] = None
                else:
                    out.info["exec_time"] = 0.0
                    out.save(str(OUT_DIR / rel_file), overwrite=True)
                    entry["bytes"] = (OUT_DIR / rel_file).stat().st_size
            except Exception as e:  # noqa: BLE001
                print(traceback.format_exc(), file=sys.stderr)
                entry["file"] = None
                entry["error"] = f"{type(e).__name__}: {e}"
            entries.append(entry)

    if partial_run:
        entries = _dec.merge_partial(entries, old_index, model_order)
    versions = _dec.package_versions(("inseq", "captum", "torch", "transformers", "tokenizers", "safetensors", "numpy"))
    index = {
        "description": "Goldens written by Python Inseq's FeatureAttributionOutput.save(path, overwrite=True) "
        "(scores_precision float32): sequential_integrated_gradients on decoder-only and encoder-decoder models, and "
        "layer methods at a block (target_layer). info.exec_time forced to 0.0. layer_integrated_gradients goldens use "
        "one compatibility shim (inseq_compat_patches=true, see notes). See scripts/reference/README.md.",
        "versions": versions,
        "seed": SEED,
        "texts": {
            "encoder_decoder": {"sources": [SRC_1, SRC_2], "targets": [TGT_1, TGT_2], "gen_source": SRC_1,
                                "contrast_target": CONTRAST_1},
            "decoder_only": {m: {"prompts": c["prompts"], "forced": c["forced"], "contrast": c["contrast"]}
                             for m, c in DEC_ONLY.items()},
        },
        "notes": [BASELINE_IDS_NOTE, SIG_TARGET_NOTE, LAYER_TARGET_NOTE, DECODER_LAYER_NOTE],
        "cases": entries,
    }
    _dec.write_index(index_path, index, OUT_DIR)


if __name__ == "__main__":
    main()
