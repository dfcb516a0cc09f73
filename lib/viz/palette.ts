/**
 * The colours of the heatmaps, declared once: a diverging map from the negative colour (alpha 1 at the scale's
 * minimum) through transparent (the middle) to the positive colour (alpha 1 at the maximum). "inseq" is Inseq's
 * red_transparent_blue (red 178,24,43 for positive, blue 33,102,172 for negative), the default everywhere; the web
 * viewer also offers "orange-purple" (ColorBrewer PuOr ends), which stays distinguishable with red-green colour
 * blindness. Pure data and arithmetic: the HTML renderers and the browser viewer share it.
 */

export type Rgb = readonly [number, number, number];

export interface Palette {
  id: string;
  /** Text of the palette's entry in a picker. */
  label: string;
  /** Colour of negative scores. */
  negative: Rgb;
  /** Colour of positive scores. */
  positive: Rgb;
}

export const PALETTES: Readonly<Record<"inseq" | "orange-purple", Palette>> = Object.freeze({
  inseq: { id: "inseq", label: "Red / blue (Inseq)", negative: [33, 102, 172], positive: [178, 24, 43] },
  "orange-purple": { id: "orange-purple", label: "Orange / purple (colour-blind safe)", negative: [94, 60, 153], positive: [230, 97, 1] },
});

export type PaletteId = keyof typeof PALETTES;

/** `rgba(...)` of `palette` at scale position t in [0, 1] (transparent at 0.5). */
export function paletteColor(t: number, palette: Palette = PALETTES.inseq): string {
  const [rgb, alpha] = t < 0.5 ? [palette.negative, (0.5 - t) * 2] : [palette.positive, (t - 0.5) * 2];
  return `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${alpha.toFixed(3)})`;
}

/** CSS gradient of the palette's legend bar (negative at the left). */
export function paletteGradient(palette: Palette = PALETTES.inseq): string {
  const [n, p] = [palette.negative.join(","), palette.positive.join(",")];
  return `linear-gradient(to right, rgba(${n},1), rgba(${n},0) 50%, rgba(${p},0) 50%, rgba(${p},1))`;
}
