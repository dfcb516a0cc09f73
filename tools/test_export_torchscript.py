#!/usr/bin/env python3
"""Tests of tools/export-torchscript against transformers (no pytest needed).

    /opt/inseq-py/venv/bin/python tools/test_export_torchscript.py [-k NAME] [--keep DIR]

Exports the tiny checkpoints of test/fixtures/reference/{gpt2,llama} and
test/fixtures/reference-seq2seq/{marian,bart,mbart,m2m_100} with the command-line tool, then checks each bundle
(loaded with torch.jit.load) against the Hugging Face model:

- logits at lengths other than the traced ones, batch sizes 1 and 3 with right padding (max abs diff <= 1e-5);
- forward_attentions vs transformers' output_attentions;
- embed* vs the embedding table (scale included) and a gradient w.r.t. the embeddings vs transformers';
- the sidecar fields and the tokenizer files;
- the same outputs from an older torch (default: Debian's /usr/bin/python3 with torch 1.13, a stand-in for the
  LibTorch 1.13 the library builds against; more with INSEQ_TORCH_READERS=python1:python2);
- a Marian checkpoint with SentencePiece files and no tokenizer.json (tokenizer conversion);
- --no-attentions, --max-positions, --kind, atomic writes (a failed export leaves nothing; a non-bundle
  directory is never replaced);
- the committed bundles of test/fixtures/torchscript (tools/make_torchscript_fixtures.py).

The same file, run as `python3 test_export_torchscript.py --run-bundle BUNDLE IN.npz OUT.npz`, only needs torch
and numpy: that is the runner the older torch executes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TOOL = HERE / "export-torchscript"
FIXTURES = REPO / "test" / "fixtures"
MODELS = {
    "gpt2": FIXTURES / "reference" / "gpt2",
    "llama": FIXTURES / "reference" / "llama",
    "marian": FIXTURES / "reference-seq2seq" / "marian",
    "bart": FIXTURES / "reference-seq2seq" / "bart",
    "mbart": FIXTURES / "reference-seq2seq" / "mbart",
    "m2m_100": FIXTURES / "reference-seq2seq" / "m2m_100",
}
TOL = 1e-5  # this torch vs transformers (same torch, same kernels)
CROSS_TOL = 3e-4  # another torch (other BLAS / kernels) vs this one, relative to max(1, |value|)
DEFAULT_READERS = ["/usr/bin/python3"]


# ---------------------------------------------------------------------------------------------------------
# Runner for another torch: torch + numpy only
# ---------------------------------------------------------------------------------------------------------


def run_bundle(bundle: str, inputs: str, outputs: str) -> None:
    """Load BUNDLE with this python's torch, run every method on the cases in INPUTS (npz), write OUTPUTS."""
    import numpy as np
    import torch

    sidecar = json.loads(Path(bundle, "inseq_bundle.json").read_text())
    m = torch.jit.load(str(Path(bundle, "model.torchscript")), map_location="cpu")
    m.eval()
    data = np.load(inputs)
    cases = sorted({k.split("/")[0] for k in data.files})
    out = {}
    t = lambda name: torch.from_numpy(np.ascontiguousarray(data[name]))  # noqa: E731
    for c in cases:
        if sidecar["model_kind"] == "decoder-only":
            ids, mask, w = t(c + "/ids"), t(c + "/mask"), t(c + "/weights")
            e = m.embed(ids).detach().requires_grad_(True)  # [b, n, hidden]
            logits = m.forward_embeds(e, mask)  # [b, n, vocab]
            (g,) = torch.autograd.grad((logits * w).sum(), e)
            out[c + "/embed"], out[c + "/logits"], out[c + "/grad"] = e.detach(), logits.detach(), g
            if "forward_attentions" in sidecar["methods"]:
                with torch.no_grad():
                    l2, att = m.forward_attentions(e.detach(), mask)  # att [layers, b, heads, n, n]
                out[c + "/att_logits"], out[c + "/att"] = l2, att
        else:
            src, mask, tgt, w = t(c + "/src"), t(c + "/mask"), t(c + "/tgt"), t(c + "/weights")
            es = m.embed_source(src).detach().requires_grad_(True)  # [b, s, hidden]
            et = m.embed_target(tgt).detach().requires_grad_(True)  # [b, t, hidden]
            logits = m.forward_embeds(es, mask, et)  # [b, t, vocab]
            gs, gt = torch.autograd.grad((logits * w).sum(), (es, et))
            out.update({c + "/embed_source": es.detach(), c + "/embed_target": et.detach(), c + "/logits": logits.detach(),
                        c + "/grad_source": gs, c + "/grad_target": gt})
            if "forward_attentions" in sidecar["methods"]:
                with torch.no_grad():
                    l2, cross, dec, enc = m.forward_attentions(es.detach(), mask, et.detach())
                out.update({c + "/att_logits": l2, c + "/cross": cross, c + "/dec_self": dec, c + "/enc_self": enc})
    np.savez(outputs, **{k: v.numpy() for k, v in out.items()}, __torch_version__=np.array(torch.__version__))


if len(sys.argv) == 5 and sys.argv[1] == "--run-bundle":
    run_bundle(sys.argv[2], sys.argv[3], sys.argv[4])
    sys.exit(0)


# ---------------------------------------------------------------------------------------------------------
# Helpers (torch 2.x + transformers from here on)
# ---------------------------------------------------------------------------------------------------------

import copy  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

warnings.simplefilter("ignore")
sys.path.insert(0, str(HERE))
import export_torchscript as et  # noqa: E402

torch.manual_seed(0)
RESULTS: list[tuple[str, bool, str]] = []


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != {tuple(b.shape)}"
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def assert_close(name: str, a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> float:
    d = maxdiff(a, b)
    assert d <= tol, f"{name}: max abs diff {d:.3g} > {tol}"
    return d


def export_cli(model: Path | str, out: Path, *extra: str) -> dict:
    """Run the command-line tool (python = this interpreter, which has transformers)."""
    cmd = [sys.executable, str(TOOL), str(model), str(out), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout)


def load_bundle(d: Path):
    m = torch.jit.load(str(d / "model.torchscript"), map_location="cpu")
    m.eval()
    return m, json.loads((d / "inseq_bundle.json").read_text())


def hf_model(path: Path):
    model, kind = et.load_hf_model(str(path))
    return model, kind


def real_ids(vocab: int, avoid: set[int], b: int, n: int, gen: torch.Generator) -> torch.Tensor:
    pool = torch.tensor([i for i in range(vocab) if i not in avoid])
    return pool[torch.randint(0, len(pool), (b, n), generator=gen)]  # [b, n]


def pad_mask(lengths: list[int], n: int) -> torch.Tensor:
    m = torch.zeros(len(lengths), n, dtype=torch.long)  # [b, n]
    for i, k in enumerate(lengths):
        m[i, :k] = 1
    return m


def specials(config) -> set[int]:
    out = set()
    for k in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
        v = getattr(config, k, None)
        out |= set(v) if isinstance(v, list) else ({v} if v is not None else set())
    return out


# ---------------------------------------------------------------------------------------------------------
# What each family consumes (written from transformers' sources, independently of the exporter)
# ---------------------------------------------------------------------------------------------------------


def expected_embed_scale(config) -> float:
    if getattr(config, "scale_embedding", False):
        return math.sqrt(config.d_model)
    return 1.0


def hf_reference_fns(model, kind):
    """Functions of the *attributed* embeddings (what embed* must return) that give transformers' logits.

    All families here feed inputs_embeds straight to their stacks, except Marian's decoder, which multiplies
    decoder_inputs_embeds by embed_scale itself (modeling_marian.py: `inputs_embeds = inputs_embeds *
    self.embed_scale` after the ids branch): its attributed embeddings are table * scale, so transformers must
    get them divided by the scale."""
    if kind == "decoder-only":
        table = model.get_input_embeddings().weight  # [vocab, hidden]

        def embed(ids):
            return table[ids]  # [b, n, hidden]

        def forward(e, mask, output_attentions=False):
            return model(inputs_embeds=e, attention_mask=mask, use_cache=False, output_attentions=output_attentions, return_dict=True)

        return embed, forward
    scale = expected_embed_scale(model.config)
    enc_table = model.get_encoder().embed_tokens.weight  # [source_vocab, hidden]
    dec_table = model.get_decoder().embed_tokens.weight  # [vocab, hidden]
    target_divisor = scale if model.config.model_type == "marian" else 1.0

    def embed_source(ids):
        return enc_table[ids] * scale  # [b, s, hidden]

    def embed_target(ids):
        return dec_table[ids] * scale  # [b, t, hidden]

    def forward(es, mask, ets, output_attentions=False):
        return model(inputs_embeds=es, attention_mask=mask, decoder_inputs_embeds=ets / target_divisor, use_cache=False,
                     output_attentions=output_attentions, return_dict=True)

    return (embed_source, embed_target), forward


# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------


def check_sidecar(name: str, sc: dict, model, kind: str, model_path: Path, bundle: Path) -> None:
    cfg = model.config
    assert sc["format"] == "inseq-torchscript-bundle" and sc["format_version"] == 1
    assert sc["model_kind"] == kind
    assert sc["model_type"] == cfg.model_type
    assert sc["torch_version"] == torch.__version__
    assert sc["source"] == str(model_path), sc["source"]
    if kind == "decoder-only":
        assert sc["vocab_size"] == cfg.vocab_size and sc["hidden_size"] == cfg.hidden_size
        assert sc["num_layers"] == cfg.num_hidden_layers and sc["num_heads"] == cfg.num_attention_heads
        assert sc["max_positions"] == getattr(cfg, "max_position_embeddings", getattr(cfg, "n_positions", None))
        assert sc["embed_scale"] == 1.0
        assert sc["methods"] == ["embed", "forward_embeds", "forward_attentions"]
        assert "decoder_start_token_id" not in sc and "encoder_layers" not in sc
    else:
        assert sc["vocab_size"] == (getattr(cfg, "decoder_vocab_size", None) or cfg.vocab_size)
        assert sc["source_vocab_size"] == cfg.vocab_size and sc["hidden_size"] == cfg.d_model
        assert sc["num_layers"] == cfg.decoder_layers and sc["num_heads"] == cfg.decoder_attention_heads
        assert sc["encoder_layers"] == cfg.encoder_layers and "encoder_heads" not in sc
        assert sc["max_positions"] == cfg.max_position_embeddings
        assert abs(sc["embed_scale"] - expected_embed_scale(cfg)) < 1e-12, sc["embed_scale"]
        assert "source_embed_scale" not in sc
        assert sc["decoder_start_token_id"] == cfg.decoder_start_token_id
        assert sc["methods"] == ["embed_source", "embed_target", "forward_embeds", "forward_attentions"]
    for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
        assert sc[k] == getattr(cfg, k), (k, sc[k], getattr(cfg, k))
    # unk: the tokenizer_config.json token, numbered by tokenizer.json
    tok = json.loads((model_path / "tokenizer.json").read_text())
    numbering = dict(tok["model"]["vocab"]) if isinstance(tok["model"]["vocab"], dict) else {}
    numbering.update({t["content"]: t["id"] for t in tok.get("added_tokens", [])})
    unk = json.loads((model_path / "tokenizer_config.json").read_text()).get("unk_token")
    assert sc["unk_token_id"] == numbering.get(unk), (sc["unk_token_id"], unk)
    assert (bundle / "tokenizer.json").read_bytes() == (model_path / "tokenizer.json").read_bytes()
    assert (bundle / "tokenizer_config.json").read_bytes() == (model_path / "tokenizer_config.json").read_bytes()
    assert not (bundle / "target_tokenizer.json").exists()
    assert sorted(p.name for p in bundle.iterdir()) == ["inseq_bundle.json", "model.torchscript", "tokenizer.json", "tokenizer_config.json"]


def decoder_only_cases(model, gen, max_pos):
    """(ids [b, n], mask [b, n]) at lengths the trace never saw (it saw [2, 7])."""
    avoid = specials(model.config)
    cases = []
    for n in [1, 3, 8, 11, 20, max_pos]:
        cases.append((real_ids(model.config.vocab_size, avoid, 1, n, gen), pad_mask([n], n)))
        lens = [n, max(1, n - 3), max(1, n // 2)]
        ids = real_ids(model.config.vocab_size, avoid, 3, n, gen)
        mask = pad_mask(lens, n)
        ids = ids.masked_fill(mask == 0, model.config.pad_token_id)  # right padding with the pad id
        cases.append((ids, mask))
    return cases


def encoder_decoder_cases(model, gen, max_pos):
    """(src [b, s], src_mask [b, s], tgt [b, t], tgt_lengths) — source and target right padding."""
    cfg = model.config
    avoid = specials(cfg)
    tgt_vocab = getattr(cfg, "decoder_vocab_size", None) or cfg.vocab_size
    cases = []
    for s, t in [(1, 1), (3, 2), (8, 6), (11, 13), (20, 9), (max_pos, max_pos)]:
        for b in (1, 3):
            src_lens = [s] if b == 1 else [s, max(1, s - 3), max(1, s // 2)]
            tgt_lens = [t] if b == 1 else [max(1, t - 2), t, max(1, t // 2)]
            src = real_ids(cfg.vocab_size, avoid, b, s, gen)
            src_mask = pad_mask(src_lens, s)
            src = src.masked_fill(src_mask == 0, cfg.pad_token_id)
            tgt = real_ids(tgt_vocab, avoid, b, t, gen)
            tgt[:, 0] = cfg.decoder_start_token_id
            tgt = tgt.masked_fill(pad_mask(tgt_lens, t) == 0, cfg.pad_token_id)
            cases.append((src, src_mask, tgt, tgt_lens))
    return cases


def check_decoder_only(name: str, bundle: Path, model_path: Path) -> dict:
    model, kind = hf_model(model_path)
    m, sc = load_bundle(bundle)
    check_sidecar(name, sc, model, kind, model_path, bundle)
    embed, forward = hf_reference_fns(model, kind)
    model64 = copy.deepcopy(model).double()
    gen = torch.Generator().manual_seed(1)
    worst = {"logits": 0.0, "attentions": 0.0, "grad": 0.0}
    npz, f64 = {}, {}
    for k, (ids, mask) in enumerate(decoder_only_cases(model, gen, sc["max_positions"])):
        with torch.no_grad():
            f64[f"c{k}/logits"] = (model64(input_ids=ids, attention_mask=mask, use_cache=False).logits, torch.ones_like(mask).bool())
            ref = model(input_ids=ids, attention_mask=mask, use_cache=False, output_attentions=True, return_dict=True)
            e = m.embed(ids)  # [b, n, hidden]
            assert_close(f"{name} embed", e, embed(ids), 0.0)
            logits = m.forward_embeds(e, mask)  # [b, n, vocab]
            worst["logits"] = max(worst["logits"], assert_close(f"{name} logits {tuple(ids.shape)}", logits, ref.logits))
            l2, att = m.forward_attentions(e, mask)  # att [layers, b, heads, n, n]
            assert_close(f"{name} forward_attentions logits", l2, ref.logits)
            worst["attentions"] = max(worst["attentions"], assert_close(f"{name} attentions {tuple(ids.shape)}", att, torch.stack(ref.attentions)))
        # gradient of a weighted sum of real-row logits w.r.t. the embeddings: bundle vs transformers
        w = torch.randn(logits.shape, generator=gen) * mask[..., None]  # [b, n, vocab]
        e1 = m.embed(ids).detach().requires_grad_(True)
        (g1,) = torch.autograd.grad((m.forward_embeds(e1, mask) * w).sum(), e1)
        e2 = embed(ids).detach().requires_grad_(True)
        (g2,) = torch.autograd.grad((forward(e2, mask).logits * w).sum(), e2)
        worst["grad"] = max(worst["grad"], assert_close(f"{name} grad {tuple(ids.shape)}", g1, g2))
        npz.update({f"c{k}/ids": ids.numpy(), f"c{k}/mask": mask.numpy(), f"c{k}/weights": w.numpy()})
    return {"worst": worst, "npz": npz, "f64": f64}


def check_encoder_decoder(name: str, bundle: Path, model_path: Path) -> dict:
    model, kind = hf_model(model_path)
    m, sc = load_bundle(bundle)
    check_sidecar(name, sc, model, kind, model_path, bundle)
    (embed_source, embed_target), forward = hf_reference_fns(model, kind)
    model64 = copy.deepcopy(model).double()
    gen = torch.Generator().manual_seed(2)
    worst = {"logits": 0.0, "attentions": 0.0, "grad": 0.0}
    npz, f64 = {}, {}
    for k, (src, mask, tgt, tgt_lens) in enumerate(encoder_decoder_cases(model, gen, sc["max_positions"])):
        rows = pad_mask(tgt_lens, tgt.shape[1]).bool()  # [b, t] real target rows (the contract's promise)
        with torch.no_grad():
            f64[f"c{k}/logits"] = (model64(input_ids=src, attention_mask=mask, decoder_input_ids=tgt, use_cache=False).logits, rows)
            ref = model(input_ids=src, attention_mask=mask, decoder_input_ids=tgt, use_cache=False, output_attentions=True, return_dict=True)
            es, etg = m.embed_source(src), m.embed_target(tgt)  # [b, s, hidden], [b, t, hidden]
            assert_close(f"{name} embed_source", es, embed_source(src), 1e-6)
            assert_close(f"{name} embed_target", etg, embed_target(tgt), 1e-6)
            logits = m.forward_embeds(es, mask, etg)  # [b, t, vocab]
            worst["logits"] = max(worst["logits"], assert_close(f"{name} logits {tuple(src.shape)}->{tuple(tgt.shape)}", logits[rows], ref.logits[rows]))
            l2, cross, dec, enc = m.forward_attentions(es, mask, etg)
            assert_close(f"{name} forward_attentions logits", l2[rows], ref.logits[rows])
            r = rows[None, :, None, :, None]  # real target query rows
            d = max(
                assert_close(f"{name} cross", cross * r, torch.stack(ref.cross_attentions) * r),
                assert_close(f"{name} decoder self", dec * r, torch.stack(ref.decoder_attentions) * r),
                # padded source query rows may differ (M2M-100 numbers pad positions apart); real rows must not
                assert_close(f"{name} encoder self", enc * mask.bool()[None, :, None, :, None],
                             torch.stack(ref.encoder_attentions) * mask.bool()[None, :, None, :, None]),
            )
            worst["attentions"] = max(worst["attentions"], d)
        w = torch.randn(logits.shape, generator=gen) * rows[..., None]  # [b, t, vocab]
        es1, et1 = (x.detach().requires_grad_(True) for x in (m.embed_source(src), m.embed_target(tgt)))
        g1 = torch.autograd.grad((m.forward_embeds(es1, mask, et1) * w).sum(), (es1, et1))
        es2, et2 = (x.detach().requires_grad_(True) for x in (embed_source(src), embed_target(tgt)))
        g2 = torch.autograd.grad((forward(es2, mask, et2).logits * w).sum(), (es2, et2))
        worst["grad"] = max(worst["grad"], assert_close(f"{name} grad source", g1[0], g2[0]), assert_close(f"{name} grad target", g1[1], g2[1]))
        npz.update({f"c{k}/src": src.numpy(), f"c{k}/mask": mask.numpy(), f"c{k}/tgt": tgt.numpy(), f"c{k}/weights": w.numpy()})
    res_f64 = f64
    # the references themselves: transformers from ids == transformers from the attributed embeddings
    src, mask, tgt, tgt_lens = encoder_decoder_cases(model, gen, 8)[3]
    rows = pad_mask(tgt_lens, tgt.shape[1]).bool()
    with torch.no_grad():
        a = model(input_ids=src, attention_mask=mask, decoder_input_ids=tgt, use_cache=False).logits
        b = forward(embed_source(src), mask, embed_target(tgt)).logits
    assert_close(f"{name} reference sanity", a[rows], b[rows])
    return {"worst": worst, "npz": npz, "f64": res_f64}


def readers() -> list[str]:
    env = os.environ.get("INSEQ_TORCH_READERS")
    return [p for p in env.split(":") if p] if env is not None else DEFAULT_READERS


def reader_version(python: str) -> str | None:
    try:
        p = subprocess.run([python, "-c", "import torch, numpy; print(torch.__version__)"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def check_other_torch(name: str, bundle: Path, npz: dict, f64: dict, tmp: Path) -> list[str]:
    """Run the bundle under each reader python; compare every output with this torch's, and the logits of both
    with transformers in float64 (float32 rounding differs between torch builds; the semantics must not)."""
    inputs = tmp / f"{name}-in.npz"
    np.savez(inputs, **npz)
    mine = tmp / f"{name}-mine.npz"
    run_bundle(str(bundle), str(inputs), str(mine))
    ours = np.load(mine)

    def err64(outs) -> float:
        worst = 0.0
        for k, (ref, rows) in f64.items():
            got = torch.from_numpy(outs[k]).double()
            worst = max(worst, maxdiff(got[rows], ref[rows]))
        return worst

    ours_err = err64(ours)
    lines = []
    for python in readers():
        version = reader_version(python)
        if version is None:
            lines.append(f"{python}: no torch, skipped")
            continue
        theirs_path = tmp / f"{name}-{abs(hash(python))}.npz"
        p = subprocess.run([python, str(Path(__file__).resolve()), "--run-bundle", str(bundle), str(inputs), str(theirs_path)],
                           capture_output=True, text=True)
        assert p.returncode == 0, f"{name}: torch {version} ({python}) cannot run the bundle:\n{p.stderr[-3000:]}"
        theirs = np.load(theirs_path)
        keys = [k for k in ours.files if k != "__torch_version__"]
        assert sorted(keys) == sorted(k for k in theirs.files if k != "__torch_version__")
        worst = 0.0
        for k in keys:
            a, b = ours[k].astype(np.float64), theirs[k].astype(np.float64)
            d = float(np.abs(a - b).max()) / max(1.0, float(np.abs(a).max())) if a.size else 0.0
            assert d <= CROSS_TOL, f"{name}: torch {version} differs on {k} by {d:.3g} (relative to max(1, |value|))"
            worst = max(worst, d)
        their_err = err64(theirs)
        assert their_err <= 10 * ours_err + 1e-6, f"{name}: torch {version} is {their_err:.3g} from float64, torch {torch.__version__} {ours_err:.3g}"
        lines.append(f"torch {version} runs all {len(keys)} outputs: max relative diff {worst:.2g} from torch {torch.__version__.split('+')[0]}; "
                     f"logits vs float64 transformers {their_err:.2g} (torch {torch.__version__.split('+')[0]}: {ours_err:.2g})")
    return lines


# ---------------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------------


def test_family(name: str, tmp: Path) -> str:
    model_path = MODELS[name]
    bundle = tmp / name
    t0 = time.time()
    sc = export_cli(model_path, bundle)
    took = time.time() - t0
    assert sc == json.loads((bundle / "inseq_bundle.json").read_text())
    kind = sc["model_kind"]
    res = check_decoder_only(name, bundle, model_path) if kind == "decoder-only" else check_encoder_decoder(name, bundle, model_path)
    other = check_other_torch(name, bundle, res["npz"], res["f64"], tmp)
    size = sum(p.stat().st_size for p in bundle.iterdir())
    w = res["worst"]
    return (f"export {took:.1f}s, {size / 1024:.0f} KiB; vs transformers: logits {w['logits']:.2g}, attentions {w['attentions']:.2g}, "
            f"grad {w['grad']:.2g}; " + "; ".join(other))


def test_no_attentions_and_max_positions(tmp: Path) -> str:
    out = tmp / "gpt2-noatt"
    sc = export_cli(MODELS["gpt2"], out, "--no-attentions", "--max-positions", "32")
    m, _ = load_bundle(out)
    assert sc["methods"] == ["embed", "forward_embeds"] and sc["max_positions"] == 32
    assert not hasattr(m, "forward_attentions") and hasattr(m, "forward_embeds")
    sc = export_cli(MODELS["bart"], tmp / "bart-unlimited", "--max-positions", "0", "--no-attentions")
    assert sc["max_positions"] is None and sc["methods"] == ["embed_source", "embed_target", "forward_embeds"]
    return "methods and max_positions follow the flags"


def test_kind_mismatch(tmp: Path) -> str:
    p = subprocess.run([sys.executable, str(TOOL), str(MODELS["bart"]), str(tmp / "x"), "--kind", "decoder-only"], capture_output=True, text=True)
    assert p.returncode == 1 and "encoder-decoder" in p.stderr, p.stderr[-500:]
    assert not (tmp / "x").exists()
    return "--kind decoder-only on BART is refused"


def test_atomic(tmp: Path) -> str:
    # 1) a failure after tracing (here: the self-check) leaves neither the bundle nor a temporary directory
    out = tmp / "atomic" / "b"
    original = et.verify_decoder_only
    et.verify_decoder_only = lambda *a, **k: (_ for _ in ()).throw(et.ExportError("injected failure"))
    try:
        try:
            et.export(str(MODELS["gpt2"]), out)
            raise AssertionError("export should have failed")
        except et.ExportError as e:
            assert "injected" in str(e)
        assert sorted(os.listdir(out.parent)) == [], os.listdir(out.parent)
        # 2) a failing re-export keeps the old bundle as it was
        et.verify_decoder_only = original
        et.export(str(MODELS["gpt2"]), out)
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        et.verify_decoder_only = lambda *a, **k: (_ for _ in ()).throw(et.ExportError("injected failure"))
        try:
            et.export(str(MODELS["llama"]), out)
            raise AssertionError("export should have failed")
        except et.ExportError:
            pass
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert sorted(os.listdir(out.parent)) == ["b"]
    finally:
        et.verify_decoder_only = original
    # 3) a successful re-export replaces the bundle (llama over gpt2) and leaves no temporary directory
    sc = et.export(str(MODELS["llama"]), out)
    assert sc["model_type"] == "llama" and json.loads((out / "inseq_bundle.json").read_text())["model_type"] == "llama"
    assert sorted(os.listdir(out.parent)) == ["b"]
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)
    # 4) a non-empty directory that is no bundle is never replaced
    other = tmp / "atomic" / "notabundle"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    try:
        et.export(str(MODELS["gpt2"]), other)
        raise AssertionError("export should have refused")
    except et.ExportError as e:
        assert "refusing" in str(e)
    assert os.listdir(other) == ["keep.txt"]
    return "failed exports leave nothing, old bundles survive, non-bundle dirs are refused"


# A small corpus of my own for the SentencePiece models (characters shared by both models).
CORPUS = [
    "A small frog sat on a green leaf near the pond.",
    "The frog liked to sing songs when the sun went down.",
    "One day a bird came and sat next to the frog.",
    "The bird said: why do you sing so loud at night?",
    "The frog laughed and said that the moon likes music.",
    "They became good friends and sang together every evening.",
    "Tom asked his teacher for advice about the big test.",
    "She told him to read a little every day and rest well.",
    "It was a cold morning, and the river was quiet.",
    "Lily found a red ball under the old wooden bench!",
    "Can I play with you? asked the little dog.",
    "Yes, you can, said Ben, and they ran to the park.",
]


def make_marian_spm_dir(d: Path) -> Path:
    """A Marian checkpoint with source.spm / target.spm / vocab.json and no tokenizer.json: the tiny marian
    weights plus two unigram SentencePiece models trained here (the target one on word-reversed text, so the
    two models have different pieces over the same characters)."""
    import sentencepiece as spm

    d.mkdir(parents=True)
    for f in ("config.json", "generation_config.json", "model.safetensors"):
        shutil.copy(MODELS["marian"] / f, d / f)
    reversed_corpus = [" ".join(w[::-1] for w in line.split()) for line in CORPUS]
    pieces = {}
    for side, lines, size in (("source", CORPUS, 70), ("target", reversed_corpus, 60)):
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines * 4), model_prefix=str(d / side), vocab_size=size,
                                       model_type="unigram", character_coverage=1.0, hard_vocab_limit=False, minloglevel=2,
                                       num_threads=1, seed_sentencepiece_size=10000)
        (d / f"{side}.model").rename(d / f"{side}.spm")
        (d / f"{side}.vocab").unlink()
        sp = spm.SentencePieceProcessor(model_file=str(d / f"{side}.spm"))
        pieces[side] = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_control(i) or sp.is_unknown(i))]
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, ">>fra<<": 4}
    for p in pieces["source"] + pieces["target"]:
        vocab.setdefault(p, len(vocab))
    assert len(vocab) <= 160, len(vocab)
    (d / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "MarianTokenizer", "source_lang": "en", "target_lang": "fr", "unk_token": "<unk>",
        "eos_token": "</s>", "pad_token": "<pad>", "model_max_length": 512, "separate_vocabs": False}))
    return d


def test_marian_sentencepiece(tmp: Path) -> str:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    src_dir = make_marian_spm_dir(tmp / "marian-spm-src")
    out = tmp / "marian-spm"
    sc = export_cli(src_dir, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["inseq_bundle.json", "model.torchscript", "target_tokenizer.json", "tokenizer.json", "tokenizer_config.json"], names
    hf = AutoTokenizer.from_pretrained(str(src_dir))
    assert type(hf).__name__ == "MarianTokenizer"
    source = Tokenizer.from_file(str(out / "tokenizer.json"))
    target = Tokenizer.from_file(str(out / "target_tokenizer.json"))
    rev = [" ".join(w[::-1] for w in line.split()) for line in CORPUS]
    samples = CORPUS + rev + [" ".join(CORPUS[:3]), "  two  spaces   here  ", ">>fra<< The frog sang.", "frog</s>bird", "a", ""]
    n = 0
    for text in samples:
        assert source.encode(text).ids == hf(text)["input_ids"], (text, source.encode(text).ids, hf(text)["input_ids"])
        assert target.encode(text).ids == hf(text_target=text)["input_ids"], (text, target.encode(text).ids, hf(text_target=text)["input_ids"])
        n += 2
    # decoding gives the text back, target-only pieces included
    ids = hf(text_target=rev[0])["input_ids"]
    assert target.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True), (target.decode(ids), hf.decode(ids))
    ids = hf(CORPUS[0])["input_ids"]
    assert source.decode(ids, skip_special_tokens=True) == CORPUS[0]
    # the model part is the plain marian one
    assert sc["model_type"] == "marian" and sc["unk_token_id"] == 3 and sc["eos_token_id"] == 2
    return f"{n} encodings equal MarianTokenizer's (source and target), decode round-trips"


def test_committed_fixtures(tmp: Path) -> str:
    """test/fixtures/torchscript (tools/make_torchscript_fixtures.py) is valid and matches the checkpoints."""
    root = FIXTURES / "torchscript"
    if not root.is_dir():
        return "skipped: no test/fixtures/torchscript"
    sources = {"gpt2": "reference/gpt2", "llama": "reference/llama", "marian": "reference-seq2seq/marian", "bart": "reference-seq2seq/bart"}
    gen = torch.Generator().manual_seed(3)
    sizes = []
    for name, rel in sources.items():
        bundle, model_path = root / name, FIXTURES / rel
        m, sc = load_bundle(bundle)
        assert sc["source"] == f"test/fixtures/{rel}", sc["source"]
        model, kind = hf_model(model_path)
        assert sc["model_kind"] == kind and set(sc["methods"]) == {x for x in et.DECODER_ONLY_METHODS + et.ENCODER_DECODER_METHODS if hasattr(m, x)}
        if kind == "decoder-only":
            ids, mask = decoder_only_cases(model, gen, sc["max_positions"])[5]
            with torch.no_grad():
                assert_close(f"fixture {name}", m.forward_embeds(m.embed(ids), mask), model(input_ids=ids, attention_mask=mask).logits)
        else:
            src, mask, tgt, lens = encoder_decoder_cases(model, gen, sc["max_positions"])[5]
            rows = pad_mask(lens, tgt.shape[1]).bool()
            with torch.no_grad():
                got = m.forward_embeds(m.embed_source(src), mask, m.embed_target(tgt))
                assert_close(f"fixture {name}", got[rows], model(input_ids=src, attention_mask=mask, decoder_input_ids=tgt).logits[rows])
        sizes.append(f"{name} {sum(p.stat().st_size for p in bundle.iterdir()) // 1024} KiB")
    broken = root / "broken-missing-method"
    m, sc = load_bundle(broken)
    assert json.loads((root / "gpt2" / "inseq_bundle.json").read_text()) == sc  # the sidecar is the valid one
    assert "forward_embeds" in sc["methods"] and not hasattr(m, "forward_embeds") and hasattr(m, "embed") and hasattr(m, "forward_attentions")
    return ", ".join(sizes) + "; broken-missing-method lacks forward_embeds"


TESTS = {
    **{name: (lambda n: (lambda tmp: test_family(n, tmp)))(name) for name in MODELS},
    "no_attentions_and_max_positions": test_no_attentions_and_max_positions,
    "kind_mismatch": test_kind_mismatch,
    "atomic": test_atomic,
    "marian_sentencepiece": test_marian_sentencepiece,
    "committed_fixtures": test_committed_fixtures,
}


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-k", action="append", default=[], help="run only tests whose name contains this")
    p.add_argument("--keep", help="write the bundles here and keep them")
    args = p.parse_args(argv)
    import transformers

    print(f"torch {torch.__version__}, transformers {transformers.__version__}; readers: " +
          ", ".join(f"{r} ({reader_version(r) or 'no torch'})" for r in readers()), flush=True)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="inseq-export-test-"))
    tmp.mkdir(parents=True, exist_ok=True)
    passed = failed = 0
    try:
        for name, fn in TESTS.items():
            if args.k and not any(k in name for k in args.k):
                continue
            t0 = time.time()
            try:
                msg = fn(tmp)
                passed += 1
                print(f"ok   {name} ({time.time() - t0:.1f}s): {msg}", flush=True)
            except Exception as e:  # noqa: BLE001 — report every test
                failed += 1
                print(f"FAIL {name} ({time.time() - t0:.1f}s): {type(e).__name__}: {e}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
