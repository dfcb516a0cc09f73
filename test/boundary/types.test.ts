// The published declarations as a strict consumer sees them: the packed tarball installed into an empty
// project (its dependencies linked from ours, as an offline npm install would place them), type-checked with
// `strict` and without `skipLibCheck`. stripInternal once removed types that public declarations still used
// (AttributableModel, NativeRagged). Method, step-function and aggregator ids are string-literal unions.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

import { repoRoot, tempDir } from "../helpers.js";

const tsc = path.join(repoRoot, "node_modules/typescript/bin/tsc");
let consumer = "";
let packed = "";

/** Type-checks `source` as the consumer's main.ts; returns tsc's diagnostics ("" when it compiles). */
function typecheck(source: string, lib = ["ES2022"]): string {
  writeFileSync(path.join(consumer, "main.ts"), source);
  writeFileSync(path.join(consumer, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib, strict: true, noEmit: true,
      skipLibCheck: false, exactOptionalPropertyTypes: false, types: ["node"], typeRoots: [path.join(repoRoot, "node_modules/@types")],
    },
    files: ["main.ts"],
  }));
  try {
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: consumer, encoding: "utf8", stdio: "pipe" });
    return "";
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e);
  }
}

beforeAll(() => {
  const packDir = tempDir("types-pack");
  execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", packDir], { cwd: repoRoot, stdio: "pipe" });
  const tarball = path.join(packDir, readdirSync(packDir).find((f) => f.endsWith(".tgz"))!);
  packed = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" });
  consumer = tempDir("types-consumer");
  writeFileSync(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  const pkg = path.join(consumer, "node_modules/inseq");
  mkdirSync(pkg, { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", pkg, "--strip-components=1", "package/package.json", "package/dist"]);
  // dist/ is built by `npm run build` (as for pack.test.ts); declarations emitted from the current sources over
  // the packed ones keep a stale dist/ from hiding a regression.
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.json", "--emitDeclarationOnly", "--declarationMap", "false", "--outDir", path.join(consumer, "decl")], { cwd: repoRoot, stdio: "pipe" });
  cpSync(path.join(consumer, "decl"), path.join(pkg, "dist"), { recursive: true });
  const deps = Object.keys((JSON.parse(readFileSync(path.join(pkg, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies);
  for (const dep of deps) {
    const link = path.join(consumer, "node_modules", dep);
    mkdirSync(path.dirname(link), { recursive: true }); // scoped packages (@fastify/cors) live one folder down
    symlinkSync(path.join(repoRoot, "node_modules", dep), link);
  }
});

describe("published declarations", () => {
  it("ship with the package: types entry and every declaration file", () => {
    expect(packed).toContain("package/dist/index.d.ts");
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));
    expect(pkg.types).toBe("./dist/index.d.ts");
    expect(pkg.exports["."].types).toBe("./dist/index.d.ts");
  });

  it("compile for a strict consumer without skipLibCheck", () => {
    const out = typecheck(`
      import {
        loadModel, Model, Seq2SeqModel, InseqError, ErrorCode, FeatureAttributionOutput, listFeatureAttributionMethods,
        registerStepFunction, type AttributeOptions, type MethodId, type StepFunctionId, type AggregatorId, type AggregationFunctionId,
      } from "inseq";
      export async function main(): Promise<void> {
        const model = await loadModel("default", { method: "integrated_gradients" });
        if (model instanceof Seq2SeqModel) {
          const out = await model.attribute("a b", { attributeTarget: true, method: "saliency" });
          console.log(out.show());
        } else if (model instanceof Model) {
          const options: AttributeOptions = { method: "lime", attributedFn: "contrast_prob_diff", stepScores: ["probability", "my_registered"] };
          const out: FeatureAttributionOutput = await model.attribute("the doctor", options);
          const agg = out.aggregate(["spans", "scores"], { aggregateFn: [null, "vnorm"] });
          console.log(agg.sequenceAttributions[0]!.targetAttributions?.shape, model.info.vocabSize);
          const f = await model.forward([[1, 2]]);
          console.log(f.logits.shape);
        }
        registerStepFunction("my_registered", ({ logits, target }) => logits[target]!);
        const methods: string[] = listFeatureAttributionMethods();
        const m: MethodId = "value_zeroing";
        const s: StepFunctionId = "logprob";
        const a: AggregatorId = "subwords";
        const fn: AggregationFunctionId = "absmax";
        try { await model.dispose(); } catch (e) { if (e instanceof InseqError && e.code === ErrorCode.DISPOSED) console.log(methods, m, s, a, fn); }
      }
    `);
    expect(out).toBe("");
  });

  it("inseq/serve compiles for the same consumer: createServer, its options and the server it returns", () => {
    const out = typecheck(`
      import { createServer, DEFAULT_LIMITS, STATUS_BY_CODE, type ServeOptions, type InseqServer } from "inseq/serve";
      export async function main(): Promise<void> {
        const options: ServeOptions = { allow: ["./models/*"], maxNewTokens: DEFAULT_LIMITS.maxNewTokens, token: "t" };
        const server: InseqServer = await createServer(options);
        const url: string = await server.listen({ port: 0 });
        const status: number | undefined = STATUS_BY_CODE.ERR_QUEUE_FULL;
        console.log(url, status, server.app.printRoutes());
        await server.close();
      }
    `);
    expect(out).toBe("");
    expect(packed).toContain("package/dist/serve/index.d.ts");
  });

  it("reject unknown method, step-function and aggregator ids at compile time (custom step functions and aggregation functions still pass)", () => {
    const out = typecheck(`
      import type { AttributeOptions, MethodId, StepFunctionId, AggregatorId } from "inseq";
      // @ts-expect-error misspelled method id
      export const a: AttributeOptions = { method: "integrated_gradient" };
      // @ts-expect-error misspelled step function id
      export const s: StepFunctionId = "probabilty";
      // @ts-expect-error misspelled aggregator id
      export const g: AggregatorId = "span";
      // @ts-expect-error not a method id
      export const m: MethodId = "probability";
      export const custom: AttributeOptions = { method: "saliency", attributedFn: "my_torchscript_fn", stepScores: ["my_js_fn"] };
    `);
    expect(out).toBe("");
  });
});
