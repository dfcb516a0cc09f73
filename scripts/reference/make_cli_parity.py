"""Runs the `inseq attribute` command lines ("cases") and `inseq attribute-dataset` command lines ("datasetCases",
needs the `datasets` package) of test/fixtures/cli-parity/cases.json with Python Inseq's CLI and saves each output
as test/fixtures/cli-parity/<name>.json (what test/cli/inseq-parity-golden.test.ts compares our CLI's outputs with).

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
doc = json.load(open(os.path.join(here, "cases.json")))
runs = [("attribute", n, a) for n, a in doc["cases"].items()] + [("attribute-dataset", n, a) for n, a in doc["datasetCases"].items()]
for command, name, args in runs:
    out = os.path.join(here, f"{name}.json")
    argv = []
    for a in args:
        for k, v in models.items():
            a = a.replace(k, os.path.join(root, v))
        argv.append(a.replace("{out}", out).replace("{data}", os.path.join(here, "prompts.jsonl")))
    model_name = next(v for k, v in models.items() if k in args)
    subprocess.run([inseq, command, *argv], check=True, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    saved = json.load(open(out))
    saved["attributes"]["info"]["model_name"] = model_name  # not this checkout's absolute path
    json.dump(saved, open(out, "w"), indent=2)
    print("wrote", out)
