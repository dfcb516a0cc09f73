#!/usr/bin/python3
"""Checks a bundle written by convert_ct2_bundle.py against the fixture's expected.json.

Usage: check_ct2_bundle.py FIXTURE_DIR BUNDLE_DIR

- greedy-decodes every case (decoder starts with <s>, stops at </s>; the whole prefix is recomputed each
  step) and compares the target ids and the summed log-probs (including the </s> step) with expected.json;
- runs a right-padded batch of two sources and compares its logits with the single-sentence ones;
- compares forward_attentions' logits with forward_embeds' and checks the attention shapes / sums;
- checks the sidecar and that the tokenizers map the fixture's tokens to its ids (by the JSON vocab).
Exits with status 1 on any mismatch.
"""

import json
import os
import sys
from typing import List, Tuple

import torch

LOGPROB_TOL = 1e-4
BATCH_TOL = 1e-5
MAX_STEPS = 64


def greedy(model: torch.jit.ScriptModule, source_ids: List[int], bos: int, eos: int) -> Tuple[List[int], float]:
    """Greedy decoding; returns (target ids without <s> / </s>, summed log-prob including the </s> step)."""
    src = torch.tensor([source_ids], dtype=torch.int64)  # [1, s]
    mask = torch.ones_like(src)  # [1, s]
    src_embeds = model.embed_source(src)  # [1, s, d]
    target = [bos]
    total = 0.0
    for _ in range(MAX_STEPS):
        tgt_embeds = model.embed_target(torch.tensor([target], dtype=torch.int64))  # [1, t, d]
        logits = model.forward_embeds(src_embeds, mask, tgt_embeds)  # [1, t, V]
        logprobs = torch.log_softmax(logits[0, -1], dim=-1)  # [V]
        token = int(torch.argmax(logprobs))
        total += float(logprobs[token])
        if token == eos:
            return target[1:], total
        target.append(token)
    raise RuntimeError(f"no </s> within {MAX_STEPS} steps")


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} FIXTURE_DIR BUNDLE_DIR", file=sys.stderr)
        return 2
    fixture_dir, bundle_dir = argv[1], argv[2]
    with open(os.path.join(fixture_dir, "expected.json"), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    with open(os.path.join(bundle_dir, "inseq_bundle.json"), encoding="utf-8") as f:
        sidecar = json.load(f)
    model = torch.jit.load(os.path.join(bundle_dir, "model.torchscript"), map_location="cpu")
    model.eval()
    torch.set_grad_enabled(False)
    failures: List[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    for method in sidecar["methods"]:
        check(hasattr(model, method), f"module lacks the exported method {method}")
    bos, eos = sidecar["decoder_start_token_id"], sidecar["eos_token_id"]

    # Tokenizers: the fixture's tokens must map to its ids.
    with open(os.path.join(bundle_dir, "tokenizer.json"), encoding="utf-8") as f:
        source_vocab = json.load(f)["model"]["vocab"]
    with open(os.path.join(bundle_dir, "target_tokenizer.json"), encoding="utf-8") as f:
        target_vocab = json.load(f)["model"]["vocab"]
    check(len(source_vocab) == sidecar["source_vocab_size"], "source tokenizer size != source_vocab_size")
    check(len(target_vocab) == sidecar["vocab_size"], "target tokenizer size != vocab_size")

    print(f"{'case':<16} {'target':<16} {'sum logprob':>12} {'expected':>9} {'|diff|':>8}")
    for case in cases:
        check([source_vocab[t] for t in case["source_tokens"]] == case["source_ids"],
              f"source tokenizer ids differ for {case['source_tokens']}")
        check([target_vocab[t] for t in case["target_tokens"]] == case["target_ids"],
              f"target tokenizer ids differ for {case['target_tokens']}")
        ids, logprob = greedy(model, case["source_ids"], bos, eos)
        diff = abs(logprob - case["sum_logprob_incl_eos"])
        check(ids == case["target_ids"], f"{case['source_tokens']}: decoded {ids}, expected {case['target_ids']}")
        check(diff <= LOGPROB_TOL, f"{case['source_tokens']}: sum logprob {logprob:.6f} vs {case['sum_logprob_incl_eos']}")
        print(f"{' '.join(case['source_tokens']):<16} {' '.join(case['target_tokens']):<16} "
              f"{logprob:>12.6f} {case['sum_logprob_incl_eos']:>9.4f} {diff:>8.1e}")

    # Right-padded batch of two (different source and target lengths) vs one sentence at a time.
    a, b = cases[1], cases[2]  # 7 and 4 source tokens, 7 and 6 target tokens
    s = max(len(a["source_ids"]), len(b["source_ids"]))
    t = max(len(a["target_ids"]), len(b["target_ids"])) + 1  # + <s>
    pad = sidecar["pad_token_id"]

    def padded(ids: List[int], n: int) -> List[int]:
        return ids + [pad] * (n - len(ids))

    src = torch.tensor([padded(c["source_ids"], s) for c in (a, b)], dtype=torch.int64)  # [2, s]
    mask = torch.tensor([padded([1] * len(c["source_ids"]), s) for c in (a, b)], dtype=torch.int64)  # [2, s]
    tgt = torch.tensor([padded([bos] + c["target_ids"], t) for c in (a, b)], dtype=torch.int64)  # [2, t]
    src_embeds, tgt_embeds = model.embed_source(src), model.embed_target(tgt)  # [2, s, d], [2, t, d]
    batch_logits = model.forward_embeds(src_embeds, mask, tgt_embeds)  # [2, t, V]
    batch_diff = 0.0
    for row, c in enumerate((a, b)):
        n_src, n_tgt = len(c["source_ids"]), len(c["target_ids"]) + 1
        single = model.forward_embeds(src_embeds[row:row + 1, :n_src], mask[row:row + 1, :n_src],
                                      tgt_embeds[row:row + 1, :n_tgt])  # [1, n_tgt, V]
        batch_diff = max(batch_diff, float((batch_logits[row, :n_tgt] - single[0]).abs().max()))
    check(batch_diff <= BATCH_TOL, f"padded batch logits differ from single ones by {batch_diff:.2e}")
    print(f"padded batch [2, {s}] x [2, {t}] vs single: max |logit diff| {batch_diff:.2e}")

    # forward_attentions: same logits, contract shapes, rows summing to 1, no weight on padded keys.
    logits, cross, dec_self, enc_self = model.forward_attentions(src_embeds, mask, tgt_embeds)
    att_diff = float((logits - batch_logits).abs().max())
    check(att_diff == 0.0, f"forward_attentions logits differ from forward_embeds by {att_diff:.2e}")
    L, Le, h = sidecar["num_layers"], sidecar["encoder_layers"], sidecar["num_heads"]
    expected_shapes = {"cross": (L, 2, h, t, s), "decoder_self": (L, 2, h, t, t), "encoder_self": (Le, 2, h, s, s)}
    for name, att in (("cross", cross), ("decoder_self", dec_self), ("encoder_self", enc_self)):
        check(tuple(att.shape) == expected_shapes[name], f"{name} shape {tuple(att.shape)} != {expected_shapes[name]}")
        check(float((att.sum(-1) - 1).abs().max()) < 1e-5, f"{name} rows do not sum to 1")
    key_pad = (mask == 0).view(1, 2, 1, 1, s)  # [1, b, 1, 1, s]
    check(float(cross.masked_select(key_pad).abs().max()) == 0.0, "cross-attention attends to padded sources")
    check(float(enc_self.masked_select(key_pad).abs().max()) == 0.0, "encoder self-attention attends to padding")
    check(float(dec_self.triu(1).abs().max()) == 0.0, "decoder self-attention is not causal")
    print(f"forward_attentions: max |logit diff| vs forward_embeds {att_diff:.1e}; "
          f"cross {tuple(cross.shape)}, decoder_self {tuple(dec_self.shape)}, encoder_self {tuple(enc_self.shape)}")

    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"OK: {len(cases)} cases (torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
