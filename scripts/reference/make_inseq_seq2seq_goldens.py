#!/usr/bin/env python3
"""Write golden attribution files computed by the real Python Inseq 0.7.1 for
encoder-decoder models (marian, bart, mbart, m2m_100, t5, t5-v1_1) and for the `value_zeroing`
method on the decoder-only models (gpt2, llama, stories260K).

Companion of make_inseq_goldens.py (decoder-only goldens, same conventions).
Run with the venv that has inseq installed:

    /opt/inseq-py/venv/bin/python scripts/reference/make_inseq_seq2seq_goldens.py [--only MODEL] [--case SUBSTR]

Writes `test/fixtures/inseq-golden-seq2seq/<model>/<case>.json` (each one is the
file written by Inseq's own `FeatureAttributionOutput.save(path, overwrite=True)`,
float32 scores) and `test/fixtures/inseq-golden-seq2seq/index.json`.
See scripts/reference/README.md ("Inseq encoder-decoder and value_zeroing goldens").

Deterministic: one CPU thread, torch deterministic algorithms, a fresh model per
case and `torch.manual_seed(0)` / `np.random.seed(0)` / `random.seed(0)` right
before every `attribute()` call. `info.exec_time` is forced to 0.0.

value_zeroing: unmodified Inseq 0.7.1 cannot run it on transformers 5.x (see
`VZ_COMPAT_NOTE`). Each value_zeroing case is therefore run twice: once
unmodified (`*_unpatched_*`, recorded with its error) and once with two minimal
compatibility shims applied only for the duration of that case (the golden).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import sys
import traceback
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "test" / "fixtures" / "inseq-golden-seq2seq"
SEED = 0

# Reuse the decoder-only model/text definitions of make_inseq_goldens.py (texts, paths).
_spec = importlib.util.spec_from_file_location("make_inseq_goldens", Path(__file__).with_name("make_inseq_goldens.py"))
_old = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_old)
DEC_ONLY_MODELS = _old.MODELS
summarize = _old.summarize
seed_all = _old.seed_all

# ---------------------------------------------------------------------------
# Encoder-decoder models and texts
# ---------------------------------------------------------------------------
# Texts: the sources are the decoded `golden.json` `sources` of
# test/fixtures/reference-seq2seq/* (re-encoding gives exactly those ids, EOS
# appended by the tokenizer's post-processor). The forced targets are decoded
# `decoder_inputs` tails of the same golden.json (re-tokenized by Inseq as
# targets, so e.g. "And that'" becomes [start, ▁, A, nd, ▁that, ', </s>]).
SRC_1 = "So Ben too"  # [52, 21, 38, 153, 67, 38, 2]  (7 ids)
SRC_2 = "Onc"  # [88, 37, 27, 2]  (4 ids)
TGT_1 = "And that'"  # [52, 13, 57, 152, 6, 2] + decoder start in front
TGT_2 = "said,"  # [158, 7, 2] + decoder start in front
CONTRAST_1 = "And Ben'"  # same length as TGT_1: [52, 13, 57, 153, 6, 2]

ENC_DEC_MODELS = {
    m: {"path": f"test/fixtures/reference-seq2seq/{m}"} for m in ("marian", "bart", "mbart", "m2m_100", "t5", "t5-v1_1")
}
# The t5 pair's tokenizer has T5's special ids (<pad>=0, </s>=1, <unk>=2) and otherwise the same ids, so the texts
# above give the same sources with </s> = 1 (added to a partial index with --only t5 / --only t5-v1_1).

GEN_ARGS = {"max_new_tokens": 5, "do_sample": False}
IG_ARGS = {"attribution_args": {"n_steps": 8, "method": "gausslegendre"}}

VZ_COMPAT_NOTE = (
    "Unmodified Inseq 0.7.1 value_zeroing fails on transformers 5.x: (1) transformers 5.x decoder/encoder layers "
    "return a plain Tensor instead of a tuple, so ValueZeroing.get_states_extract_and_patch_hook does "
    "`output[0]` (= first batch row) and `output[:0] + (clean,) + output[1:]` -> TypeError: unsupported operand "
    "type(s) for +: 'Tensor' and 'tuple' (every model); (2) GPT-2's attention in transformers 5.x has no local "
    "`value` (model_config.yaml entry for GPT2LMHeadModel) -> ValueError 'Could not find assignment to value'. "
    "Shims used for this golden, active only during the case: the block forward hook treats a Tensor output as "
    "the hidden state (stores output.clone().float() as the corrupted state and returns the clean state; the "
    "tuple path is unchanged), and GPT2LMHeadModel's value_vector is registered as 'value_states' via "
    "inseq.register_model_config(..., overwrite=True). Nothing else is changed; see *_unpatched_* for the errors."
)


# Known causes of the errors Inseq 0.7.1 raises here (attached to the index entries as `error_explanation`).
ERROR_EXPLANATIONS = {
    "unsupported operand type(s) for +: 'Tensor' and 'tuple'": (
        "value_zeroing block hook assumes tuple layer outputs; transformers 5.x layers return a Tensor."
    ),
    "Could not find assignment to value": (
        "model_config.yaml names GPT-2's value variable 'value'; GPT2Attention.forward in transformers 5.x calls it "
        "'value_states'."
    ),
    "The expanded size of the tensor": (
        "similarity_metric='euclidean' is broken in Inseq 0.7.1 for any model/transformers version: "
        "torch.cdist(x, y) of [batch, seq, hidden] tensors returns the [batch, seq, seq] pairwise distance matrix, "
        "which cannot be assigned to all_scores[:, layer, t:, t] ([batch, seq - t]) or all_scores[:, layer, :, t]."
    ),
    "Forward hook did not obtain any outputs for given layer": (
        "Default layer = model.get_input_embeddings() = model.model.shared (a *Scaled*WordEmbedding). In "
        "transformers 5.24 BART/MBart/M2M100 encoder and decoder own separate embed_tokens modules that only share the "
        "weight tensor, so the Captum layer hook on `shared` never runs (ids go through encoder.embed_tokens; the "
        "decoder gets inputs_embeds). Marian works: get_input_embeddings() is encoder.embed_tokens itself."
    ),
}

MARIAN_NOTE = (
    "marian: Inseq's embed_scale = encoder.embed_scale = sqrt(d_model) and Inseq feeds inputs_embeds = "
    "sqrt(d)*E[ids] and decoder_inputs_embeds = sqrt(d)*E[tgt]. MarianEncoder uses inputs_embeds as given, but "
    "MarianDecoder (transformers 5.24) multiplies inputs_embeds by embed_scale again, so every marian golden is "
    "computed with decoder token embeddings d*E (= 32*E) instead of sqrt(d)*E: Inseq's probabilities differ from "
    "model(input_ids, decoder_input_ids) (e.g. dummy probability[0] 9.596e-05 vs 1.148e-04)."
)
M2M_DEEPLIFT_NOTE = (
    "m2m_100 uses nn.ReLU modules (activation_function 'relu'), so Captum's DeepLift rescale rule applies there "
    "(multiplier (relu(x)-relu(x_ref))/(x-x_ref), x_ref from the baseline forward); deeplift != (x-b)*grad f(x) "
    "for m2m_100 (rel. diff 0.15), while it is for marian (SiLU), bart and mbart (GELUActivation)."
)

T5_DEEPLIFT_NOTE = (
    "t5 (v1.0) uses nn.ReLU modules (feed_forward_proj 'relu'), so Captum's DeepLift rescale rule applies there as "
    "for m2m_100; t5-v1_1's gated-gelu uses NewGELUActivation (no rule: (x-b)*grad f(x))."
)

T5_LAYER_NOTE = (
    "t5: the same failure as BART's: get_input_embeddings() is model.shared, while T5Stack (transformers 5.24) embeds "
    "ids with its own embed_tokens module (weight tied to shared), so the hook on shared never runs."
)
T5_VZ_NOTE = (
    "t5: T5Block returns a tuple (hidden_states, position biases), so unmodified Inseq 0.7.1 value_zeroing runs on "
    "T5 (the *_unpatched_* case succeeds and equals the shimmed one, whose tuple path is unchanged)."
)


def enc_dec_cases() -> list[dict]:
    cases: list[dict] = []

    def add(name, method, forced=True, batch=1, **kw):
        c = {"case": name, "method": method, "forced": forced, "batch": batch}
        c.update(kw)
        cases.append(c)

    method_kwargs = {
        "saliency": {},
        "input_x_gradient": {},
        "integrated_gradients": IG_ARGS,
        "deeplift": {},
        "layer_integrated_gradients": IG_ARGS,
        "layer_gradient_x_activation": {},
        "layer_deeplift": {},
        "occlusion": {},
        "attention": {},
        "value_zeroing": {},
        "dummy": {},
    }
    target_too = {"saliency", "integrated_gradients", "attention", "value_zeroing", "occlusion"}
    for method, kw in method_kwargs.items():
        extra = {"step_scores": ["probability", "entropy", "logit"]} if method == "dummy" else {}
        notes = []
        if method.startswith("layer_"):
            notes.append("Default target layer (= model.get_input_embeddings()); inputs are ids.")
        add(f"{method}_forced_b1", method, attribute_kwargs=dict(kw), notes=list(notes), **extra)
        if method in target_too:
            add(
                f"{method}_target_forced_b1",
                method,
                attribute_target=True,
                attribute_kwargs=dict(kw),
                notes=list(notes),
            )
    add("value_zeroing_euclidean_forced_b1", "value_zeroing", attribute_kwargs={"similarity_metric": "euclidean"})
    for method in ("saliency", "attention"):
        add(
            f"{method}_forced_b2",
            method,
            batch=2,
            attribute_kwargs={},
            notes=["Two sources of different lengths (7 and 4 ids) and targets of different lengths (7 and 4 ids)."]
            + (
                ["attention is a final-step method: Inseq runs enc-dec final-step methods with batch size 1 "
                 "(warning 'Batched attribution with encoder-decoder models currently not supported for final-step "
                 "methods'), so no padding reaches the scores."]
                if method == "attention"
                else ["Real batch: sources right-padded with <pad>, targets right-padded with <pad>."]
            ),
        )
    add("saliency_gen_b1", "saliency", forced=False, attribute_kwargs={})
    add("saliency_probability_forced_b1", "saliency", step_scores=["probability"], attribute_kwargs={})
    add(
        "saliency_attr_contrast_prob_diff_forced_b1",
        "saliency",
        attributed_fn="contrast_prob_diff",
        attribute_kwargs={"contrast_targets": CONTRAST_1},
        notes=["contrast_force_inputs=False (default): forward output reused, only the target id swapped."],
    )
    return cases


def dec_only_vz_cases() -> list[dict]:
    return [
        {"case": "value_zeroing_forced_b1", "method": "value_zeroing", "forced": True, "batch": 1,
         "attribute_kwargs": {}},
        {"case": "value_zeroing_euclidean_forced_b1", "method": "value_zeroing", "forced": True, "batch": 1,
         "attribute_kwargs": {"similarity_metric": "euclidean"}},
    ]


def expand_vz(cases: list[dict]) -> list[dict]:
    """Every value_zeroing case is also run unmodified (error record) before the shimmed golden."""
    out = []
    for c in cases:
        if c["method"] == "value_zeroing":
            u = dict(c)
            u["case"] = c["case"].replace("value_zeroing", "value_zeroing_unpatched", 1)
            u["no_file_expected"] = True
            u["notes"] = list(c.get("notes", [])) + ["Unmodified Inseq 0.7.1 (no shims); expected to fail."]
            out.append(u)
            p = dict(c)
            p["vz_patch"] = True
            p["notes"] = list(c.get("notes", [])) + [VZ_COMPAT_NOTE]
            out.append(p)
        else:
            out.append(c)
    return out


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def value_zeroing_compat():
    """The two shims described in VZ_COMPAT_NOTE; restored on exit."""
    import inseq
    from inseq.attr.feat.ops.value_zeroing import ValueZeroing
    from inseq.models import model_config as mc

    orig_hook_factory = ValueZeroing.get_states_extract_and_patch_hook
    orig_gpt2 = mc.MODEL_CONFIGS.get("GPT2LMHeadModel")

    def get_states_extract_and_patch_hook(self, block_idx, hidden_state_idx=0):
        tuple_hook = orig_hook_factory(self, block_idx, hidden_state_idx)

        def hook(module, args, output):
            if isinstance(output, torch.Tensor):
                self.corrupted_block_output_states[block_idx] = output.clone().float().detach().cpu()
                return self.clean_block_output_states[block_idx].to(output.device)
            return tuple_hook(module, args, output)

        return hook

    ValueZeroing.get_states_extract_and_patch_hook = get_states_extract_and_patch_hook
    prev_level = logging.getLogger("inseq.models.model_config").level
    logging.getLogger("inseq.models.model_config").setLevel(logging.ERROR)
    inseq.register_model_config(
        "GPT2LMHeadModel", {"self_attention_module": "attn", "value_vector": "value_states"}, overwrite=True,
        allow_partial=True,
    )
    try:
        yield
    finally:
        ValueZeroing.get_states_extract_and_patch_hook = orig_hook_factory
        mc.MODEL_CONFIGS["GPT2LMHeadModel"] = orig_gpt2
        logging.getLogger("inseq.models.model_config").setLevel(prev_level)


def main():
    args = _old.parse_args()
    _old.setup_runtime()

    import inseq
    from transformers import AutoTokenizer

    partial_run, old_index, index_path = _old.prepare_out_dir(OUT_DIR, args)

    plan = []  # (model_key, path, kind, texts, cases)
    for m, cfg in ENC_DEC_MODELS.items():
        texts = {
            "sources": [SRC_1, SRC_2],
            "targets": [TGT_1, TGT_2],
            "gen_source": SRC_1,
            "contrast": CONTRAST_1,
        }
        plan.append((m, cfg["path"], "encoder-decoder", texts, expand_vz(enc_dec_cases())))
    for m, cfg in DEC_ONLY_MODELS.items():
        texts = {"sources": cfg["prompts"][:1], "targets": cfg["forced"][:1]}
        plan.append((m, cfg["path"], "decoder-only", texts, expand_vz(dec_only_vz_cases())))
    model_order = [p[0] for p in plan]

    entries = []
    for model_key, path, kind, texts, cases in plan:
        if args.only and model_key != args.only:
            continue
        (OUT_DIR / model_key).mkdir(exist_ok=True)
        tok = AutoTokenizer.from_pretrained(path)
        if kind == "encoder-decoder":
            src_ids = json.loads((Path(path) / "golden.json").read_text())["sources"]
            assert tok(SRC_1).input_ids == src_ids[1], (model_key, tok(SRC_1).input_ids)
            assert tok(SRC_2).input_ids == src_ids[0], (model_key, tok(SRC_2).input_ids)
            assert len(tok(text_target=CONTRAST_1).input_ids) == len(tok(text_target=TGT_1).input_ids)
        for c in cases:
            if args.case and args.case not in c["case"]:
                continue
            method = c["method"]
            batch = c["batch"]
            sources = [texts["gen_source"]] if not c["forced"] else texts["sources"][:batch]
            targets = texts["targets"][:batch] if c["forced"] else None
            attribute_kwargs = dict(c.get("attribute_kwargs", {}))
            step_scores = c.get("step_scores", [])
            attribute_target = c.get("attribute_target", False)
            attributed_fn = c.get("attributed_fn")
            load_kwargs = {"attribution_method": method, "device": "cpu"}
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
                "forced": c["forced"],
                "batch": batch,
                "input_texts": sources,
                "generated_texts": targets,
                "generation_args": {} if c["forced"] else dict(GEN_ARGS),
                "attribute_kwargs": attribute_kwargs,
                "load_model_kwargs": load_kwargs,
                "include_eos_baseline": False,
                "inseq_compat_patches": bool(c.get("vz_patch")),
                "seed": SEED,
                "notes": list(c.get("notes", [])),
            }
            print(f"[{model_key}] {c['case']} ...", flush=True)
            ctx = value_zeroing_compat() if c.get("vz_patch") else contextlib.nullcontext()
            try:
                with ctx:
                    model = inseq.load_model(path, method, device="cpu")
                    model.model.eval()
                    call_kwargs = dict(attribute_kwargs)
                    if attributed_fn is not None:
                        call_kwargs["attributed_fn"] = attributed_fn
                    gen_record = []
                    if not c["forced"]:
                        orig_generate = model.model.generate

                        def recording_generate(*a, **k):
                            r = orig_generate(*a, **k)
                            gen_record.append({
                                "kwargs": {kk: vv for kk, vv in k.items() if isinstance(vv, bool | int | float | str)},
                                "sequences": r.sequences.tolist(),
                            })
                            return r

                        model.model.generate = recording_generate
                    seed_all()
                    out = model.attribute(
                        sources if batch > 1 else sources[0],
                        (targets if batch > 1 else targets[0]) if targets is not None else None,
                        step_scores=step_scores,
                        attribute_target=attribute_target,
                        include_eos_baseline=False,
                        generation_args={} if c["forced"] else dict(GEN_ARGS),
                        show_progress=False,
                        **call_kwargs,
                    )
                entry["summary"] = summarize(out)
                if gen_record:
                    entry["recorded_generation"] = gen_record
                out.info["exec_time"] = 0.0
                out.save(str(OUT_DIR / rel_file), overwrite=True)
                entry["bytes"] = (OUT_DIR / rel_file).stat().st_size
                if c.get("no_file_expected"):
                    entry["notes"].append("Unexpectedly succeeded without shims.")
            except Exception as e:  # noqa: BLE001
                tb = traceback.format_exc()
                if not c.get("no_file_expected"):
                    print(tb, file=sys.stderr)
                entry["file"] = None
                entry["error"] = f"{type(e).__name__}: {e}"
                for key, why in ERROR_EXPLANATIONS.items():
                    if key in str(e):
                        entry["error_explanation"] = why
            if model_key == "marian":
                entry["notes"].append(MARIAN_NOTE)
            if model_key == "m2m_100" and method in ("deeplift", "layer_deeplift"):
                entry["notes"].append(M2M_DEEPLIFT_NOTE)
            if model_key.startswith("t5") and method in ("deeplift", "layer_deeplift"):
                entry["notes"].append(T5_DEEPLIFT_NOTE)
            if model_key.startswith("t5") and method.startswith("layer_"):
                entry["notes"].append(T5_LAYER_NOTE)
            if model_key.startswith("t5") and method == "value_zeroing":
                entry["notes"].append(T5_VZ_NOTE)
            entries.append(entry)

    if partial_run:
        entries = _old.merge_partial(entries, old_index, model_order)
    versions = _old.package_versions(("inseq", "captum", "torch", "transformers", "tokenizers", "safetensors", "numpy"))
    index = {
        "description": "Goldens written by Python Inseq's FeatureAttributionOutput.save(path, overwrite=True) "
        "(scores_precision float32) for encoder-decoder models (marian, bart, mbart, m2m_100, t5, t5-v1_1) and value_zeroing on "
        "decoder-only models. info.exec_time forced to 0.0. value_zeroing goldens use two compatibility shims "
        "(inseq_compat_patches=true, see notes). See scripts/reference/README.md.",
        "versions": versions,
        "seed": SEED,
        "texts": {
            "encoder_decoder": {
                "sources": [SRC_1, SRC_2],
                "targets": [TGT_1, TGT_2],
                "gen_source": SRC_1,
                "contrast_target": CONTRAST_1,
            },
            "decoder_only": {m: {"prompt": c["prompts"][0], "forced": c["forced"][0]} for m, c in DEC_ONLY_MODELS.items()},
        },
        "notes": [
            "All encoder-decoder dirs load in Inseq as they are: tokenizer_config.json names "
            "'TokenizersBackend', so AutoTokenizer builds a fast tokenizer from tokenizer.json (no .spm files are "
            "needed, no tokenizer= override was used). Inseq forces attn_implementation='eager' itself.",
            VZ_COMPAT_NOTE,
            MARIAN_NOTE,
            M2M_DEEPLIFT_NOTE,
        ],
        "cases": entries,
    }
    _old.write_index(index_path, index, OUT_DIR)


if __name__ == "__main__":
    main()
