"""Runs the `inseq attribute` command lines of test/fixtures/cli-parity/cases.json with Python Inseq's CLI and
saves each output as test/fixtures/cli-parity/<name>.json (what test/cli/inseq-parity-golden.test.ts compares our
CLI's outputs with).

    HF_HUB_OFFLINE=1 /opt/inseq-py/venv/bin/python scripts/reference/make_cli_parity.py
"""
import json
import os
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
here = os.path.join(root, "test/fixtures/cli-parity")
models = {"{model}": "test/fixtures/reference/gpt2", "{bart}": "test/fixtures/reference-seq2seq/bart"}
inseq = os.path.join(os.path.dirname(sys.executable), "inseq")
cases = json.load(open(os.path.join(here, "cases.json")))["cases"]
for name, args in cases.items():
    out = os.path.join(here, f"{name}.json")
    argv = []
    for a in args:
        for k, v in models.items():
            a = a.replace(k, os.path.join(root, v))
        argv.append(a.replace("{out}", out))
    model_name = next(v for k, v in models.items() if k in args)
    subprocess.run([inseq, "attribute", *argv], check=True, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    doc = json.load(open(out))
    doc["attributes"]["info"]["model_name"] = model_name  # not this checkout's absolute path
    json.dump(doc, open(out, "w"), indent=2)
    print("wrote", out)
