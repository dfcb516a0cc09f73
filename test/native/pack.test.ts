// The path a user of the published package takes: npm pack, npm install of the tarball in an empty folder,
// the prebuilt addon loaded through node-gyp-build (PREBUILDS_ONLY=1), and a generation with the bundled model.
import { execFileSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { repoRoot, tempDir } from "../helpers.js";

describe("published package", () => {
  it("installs from the tarball and generates with the prebuilt addon", () => {
    const packDir = tempDir("pack");
    // The prepack hook (tsc + prebuild copy) would rewrite dist/ under the feet of tests running in parallel:
    // run its prebuild half here and pack without scripts (dist/ is already built by npm run build).
    execFileSync(process.execPath, [path.join(repoRoot, "scripts/make-prebuild.mjs")], { cwd: repoRoot, stdio: "pipe" });
    execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", packDir], { cwd: repoRoot, stdio: "pipe" });
    const tarball = readdirSync(packDir).find((f) => f.endsWith(".tgz"))!;
    const files = execFileSync("tar", ["-tzf", path.join(packDir, tarball)], { encoding: "utf8" });
    expect(files).toContain(`package/prebuilds/${process.platform}-${process.arch}/inseq.napi.node`);
    expect(files).toContain("package/models/default/model.safetensors");
    expect(files).toContain("package/dist/cli/index.js");
    expect(files).not.toContain("package/build/");

    const app = tempDir("app");
    writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    execFileSync("npm", ["install", "--no-audit", "--no-fund", path.join(packDir, tarball)], { cwd: app, stdio: "pipe" });
    const script = `
      import { loadModel, runtimeInfo } from "inseq";
      const model = await loadModel("default", { device: "cpu" });
      const [text] = await model.generate("the doctor , a woman , said that", { maxNewTokens: 6 });
      console.log(JSON.stringify({ addon: runtimeInfo().addonPath, text }));
      await model.dispose();`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: app, encoding: "utf8", env: { ...process.env, PREBUILDS_ONLY: "1" },
    });
    const result = JSON.parse(out.trim().split("\n").at(-1)!);
    expect(result.addon).toBe(path.join(app, "node_modules/inseq/prebuilds", `${process.platform}-${process.arch}`, "inseq.napi.node"));
    expect(result.text.startsWith("the doctor , a woman , said that ")).toBe(true);
    const cli = execFileSync(path.join(app, "node_modules/.bin/inseq"), ["generate", "--max-new-tokens", "4", "mary went to"], {
      cwd: app, encoding: "utf8", env: { ...process.env, PREBUILDS_ONLY: "1" },
    });
    expect(cli.startsWith("mary went to ")).toBe(true);
  });
});
