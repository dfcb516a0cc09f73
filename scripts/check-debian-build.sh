#!/usr/bin/env bash
# The Debian build-from-source path (apt-get install libtorch-dev libopenblas0-openmp: LibTorch 1.13, C++17):
# builds the addon and the C++ tests in build-debian/, runs the C++ tests, then a generation through Node with
# INSEQ_ADDON_DIR pointing at that build, which the runtime lookup must serve from Debian's /usr/lib.
# Run by .ci/run after the suite (scripts/setup.sh --tests installs libtorch-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-debian
npx cmake-js build --out "$out" -p "$(nproc)" --CDINSEQ_DEBIAN_TORCH=ON
"$out/inseq_core_tests" --device cpu
grep -q '"libtorchSoname": "libtorch_cpu.so.1.13"' "$out/Release/inseq.build.json"
INSEQ_ADDON_DIR="$out/Release" node --input-type=module -e '
  import { loadModel, runtimeInfo } from "./dist/index.js";
  const info = runtimeInfo();
  if (info.libtorch.source !== "debian" || !info.torchVersion.startsWith("1.13")) throw new Error(`expected Debian LibTorch 1.13, got ${info.torchVersion} from ${info.libtorch.source}`);
  const model = await loadModel("default", { device: "cpu" });
  const [text] = await model.generate("the doctor , a woman from the hospital , said that", { maxNewTokens: 4 });
  if (!text.startsWith("the doctor , a woman from the hospital , said that ")) throw new Error(text);
  console.log(`debian build: LibTorch ${info.torchVersion} from ${info.libtorch.libDir}: ${JSON.stringify(text)}`);
  await model.dispose();'
