#!/usr/bin/env python3
"""Regenerate test/fixtures/torchscript/: TorchScript bundles of the tiny reference checkpoints.

    /opt/inseq-py/venv/bin/python tools/make_torchscript_fixtures.py

Writes (each a full bundle, see docs/torchscript.md):

    test/fixtures/torchscript/gpt2     from test/fixtures/reference/gpt2           (decoder-only)
    test/fixtures/torchscript/llama    from test/fixtures/reference/llama          (decoder-only)
    test/fixtures/torchscript/marian   from test/fixtures/reference-seq2seq/marian (encoder-decoder)
    test/fixtures/torchscript/bart     from test/fixtures/reference-seq2seq/bart   (encoder-decoder)
    test/fixtures/torchscript/broken-missing-method
                                       the gpt2 bundle traced without forward_embeds (its module has embed and
                                       forward_attentions); the sidecar is the valid gpt2 one, listing all three

The bundles hold the same weights as the reference checkpoints, so the Node tests can compare a bundle with
the native implementation. Paths are recorded relative to the repository root (the sidecar's "source").
Needs torch + transformers (the versions used are recorded in each sidecar).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import export_torchscript as et  # noqa: E402

OUT = Path("test/fixtures/torchscript")
BUNDLES = {
    "gpt2": "test/fixtures/reference/gpt2",
    "llama": "test/fixtures/reference/llama",
    "marian": "test/fixtures/reference-seq2seq/marian",
    "bart": "test/fixtures/reference-seq2seq/bart",
}


def main() -> int:
    os.chdir(REPO)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, source in BUNDLES.items():
        et.export(source, OUT / name)
    broken = OUT / "broken-missing-method"
    et.export(BUNDLES["gpt2"], broken, methods_override=["embed", "forward_attentions"])
    print(f"{'bundle':<24} {'files':>5} {'bytes':>9}")
    for d in sorted(OUT.iterdir()):
        if d.is_dir():
            files = sorted(d.iterdir())
            print(f"{d.name:<24} {len(files):>5} {sum(f.stat().st_size for f in files):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
