/** The plain data of an attributeContext() result (the fields of `AttributeContextOutput`, read by the views). */

/** One contextual cues imputation (CCI): the attribution of one context-sensitive token to the contexts. */
export interface CCIOutput {
  /** Index of the token in `outputCurrentTokens`. */
  ctiIdx: number;
  ctiToken: string;
  ctiScore: number;
  /** The contextual output up to and including the token (the attributed target). */
  contextualOutput: string;
  /** The contextless alternative token (contrastive attributedFn only). */
  contrastToken: string | null;
  /** The contextless output ending with the alternative (contrastive attributedFn only). */
  contextlessOutput: string | null;
  /** One score per input context token (null without an input context). */
  inputContextScores: number[] | null;
  /** One score per output context token (null without an output context). */
  outputContextScores: number[] | null;
}

export interface AttributeContextData {
  inputContext: string | null;
  inputContextTokens: string[] | null;
  outputContext: string | null;
  outputContextTokens: string[] | null;
  outputCurrent: string | null;
  outputCurrentTokens: string[] | null;
  ctiScores: number[] | null;
  cciScores: CCIOutput[];
  /** The arguments of the run as Inseq's `AttributeContextArgs.to_dict()` (snake_case), or null. */
  info: Record<string, unknown> | null;
}
