/**
 * The output side of attributeContext before any attribution (Inseq's `prepare_outputs`), in six cases:
 *
 * | {context} in outputTemplate | outputContextText | outputCurrentText | case
 * |---|---|---|---
 * | yes | given | given | 1. forced context + current
 * | no  | -     | given | 2. forced current
 * | yes | given | -     | 3. generate the current output after the forced context
 * | no  | -     | -     | 4. generate the output, all of it current
 * | yes | -     | -     | 5. generate, then split context / current
 * | yes | -     | given | 6. generate, split, keep the forced current
 *
 * Splitting (5, 6) tries the template's separator (exactly two parts), then punctuation (exactly two parts); the
 * last resort of Inseq for encoder-decoders (aligning with the input context through a LaBSE model from the hub) is
 * not available here: ERR_INVALID_OPTION asks for the output context instead. "auto" takes the candidate,
 * "manual" asks `confirmOutputContext`.
 */
import { ErrorCode, InseqError } from "../core/errors.js";
import { concatWithSep, formatTemplate, keptText, type TokenSide } from "./text.js";
import type { ContextModel, ResolvedContextOptions } from "./types.js";

export interface PreparedOutputs {
  outputContext: string | null;
  outputCurrent: string;
  /** The setting of the table above (1-6). */
  setting: 1 | 2 | 3 | 4 | 5 | 6;
  /** Notes for the caller (Inseq's warnings). */
  notes: string[];
}

const PUNCTUATION = /[\s.?!,;:)\]}]+/;

/** The context candidate of a generated output (cases 5 and 6), or null. */
export function splitOutputContext(output: string, separator: string | null): string | null {
  if (separator !== null) {
    const parts = output.split(separator);
    if (parts.length === 2 && parts[0]) return parts[0];
  }
  const parts = output.split(PUNCTUATION).filter((s) => s.length > 0);
  return parts.length === 2 ? parts[0]! : null;
}

export async function prepareOutputs(
  model: ContextModel, target: TokenSide, inputFullText: string, o: ResolvedContextOptions, signal?: AbortSignal,
): Promise<PreparedOutputs> {
  const isEncDec = model.kind === "encoder-decoder";
  const template = o.outputTemplate;
  const useOutCtx = template.includes("{context}");
  const hasOutCtx = o.outputContextText !== null;
  const hasOutCurr = o.outputCurrentText !== null;
  const notes: string[] = [];
  // "A{context}B{current}C" -> prefix "A", separator "B", suffix "C"
  const prefix = template.split(useOutCtx ? "{context}" : "{current}")[0]!;
  const [currentPrefixTemplate, suffix] = template.split("{current}") as [string, string];
  const separator = useOutCtx ? template.split("{context}")[1]!.split("{current}")[0]! : null;

  if (hasOutCtx === useOutCtx && hasOutCurr) {
    return { outputContext: o.outputContextText, outputCurrent: o.outputCurrentText!, setting: useOutCtx ? 1 : 2, notes };
  }

  let modelInput = inputFullText;
  let currentPrefix = prefix;
  let targetPrefix: string | undefined;
  if (hasOutCtx && !hasOutCurr) {
    currentPrefix = formatTemplate(currentPrefixTemplate.trim(), "", o.outputContextText);
    if (isEncDec) targetPrefix = currentPrefix;
    else {
      modelInput = concatWithSep(inputFullText, currentPrefix, o.decoderInputOutputSeparator);
      currentPrefix = modelInput;
    }
  } else if (!isEncDec) {
    modelInput = concatWithSep(inputFullText, "", o.decoderInputOutputSeparator);
  }

  let generated = await generateOutput(model, target, modelInput, o, targetPrefix, signal);
  // Inseq decodes only the new tokens of decoder-only models and checks the prefix against that text; with a
  // forced context the prompt itself is the prefix, so compare the whole text there.
  if (!isEncDec && hasOutCtx && !hasOutCurr) generated = modelInput + generated;
  if (currentPrefix) {
    if (!generated.startsWith(currentPrefix)) {
      throw new InseqError(ErrorCode.INVALID_OPTION,
        `Expected the generated output to start with the prefix "${currentPrefix}" of outputTemplate "${template}" but received ` +
        `"${generated}"; check the template, or force outputContextText / outputCurrentText`);
    }
    generated = generated.slice(currentPrefix.length);
  }
  if (suffix) {
    if (!generated.endsWith(suffix)) {
      throw new InseqError(ErrorCode.INVALID_OPTION,
        `Expected the generated output to end with the suffix "${suffix}" of outputTemplate "${template}" but received ` +
        `"${generated}"; check the template, or force outputCurrentText`);
    }
    generated = generated.slice(0, -suffix.length);
  }
  if (hasOutCtx === useOutCtx && !hasOutCurr) {
    return { outputContext: o.outputContextText, outputCurrent: generated.trim(), setting: useOutCtx ? 3 : 4, notes };
  }

  // cases 5, 6
  const candidate = splitOutputContext(generated, separator);
  let context: string;
  if (candidate && o.handleOutputContextStrategy === "auto") context = candidate;
  else if (o.handleOutputContextStrategy === "manual" && o.confirmOutputContext) {
    context = await o.confirmOutputContext(generated, candidate);
    if (typeof context !== "string" || !generated.startsWith(context)) {
      throw new InseqError(ErrorCode.INVALID_OPTION, `Expected a prefix of the generated output "${generated}" from confirmOutputContext but received ${JSON.stringify(context)}`);
    }
  } else {
    throw new InseqError(ErrorCode.INVALID_OPTION,
      `Expected an outputContextText for outputTemplate "${template}": the generated output "${generated}" could not be split into ` +
      "context and current by the template separator or by punctuation" +
      (isEncDec ? " (Inseq's last resort, aligning with the input context through a LaBSE model from the hub, is not available here)" : "") +
      '; pass outputContextText (or outputCurrentText and outputContextText), or use handleOutputContextStrategy "manual" with confirmOutputContext');
  }
  let templateContext = formatTemplate(template.split("{current}")[0]!, "", context);
  if (!context) templateContext = templateContext.trim();
  const current = generated.slice(Math.min(templateContext.length, generated.length));
  if (!hasOutCurr && !current) {
    throw new InseqError(ErrorCode.INVALID_OPTION,
      `Expected a non-empty current output after the output context "${context}" but the model produced none; ` +
      "force an output context with outputContextText");
  }
  if (hasOutCurr) {
    notes.push(`The model produced the current text "${current}", but the outputCurrentText given ("${o.outputCurrentText}") is used instead`);
    return { outputContext: context, outputCurrent: o.outputCurrentText!.trim(), setting: 6, notes };
  }
  return { outputContext: context, outputCurrent: current.trim(), setting: 5, notes };
}

/** The generated continuation as text, special tokens dropped except the kept ones (decoder-only: new tokens only). */
async function generateOutput(model: ContextModel, target: TokenSide, input: string, o: ResolvedContextOptions, targetPrefix: string | undefined,
  signal: AbortSignal | undefined): Promise<string> {
  if (model.kind === "encoder-decoder") {
    const out = await model.generate(input, { ...o.generationArgs, returnIds: true, ...(targetPrefix !== undefined ? { targetPrefix } : {}), ...(signal ? { signal } : {}) });
    return keptText(target, out.sequences[0]!.ids, o.specialTokensToKeep);
  }
  const out = await model.generate(input, { ...o.generationArgs, returnIds: true, skipSpecialTokens: false, ...(signal ? { signal } : {}) });
  return keptText(target, out.sequences[0]!.generatedIds, o.specialTokensToKeep);
}
