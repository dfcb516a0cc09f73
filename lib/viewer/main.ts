/**
 * The web viewer's entry: static mode (saved Inseq JSON opened from a file, no server) everywhere, live mode when
 * the page is served by `inseq serve` (`live.ts`), and the palette picker, remembered in localStorage.
 */
import { PALETTES, type PaletteId } from "../viz/palette.js";
import { $ } from "./dom.js";
import { setPalette } from "./heatmap-view.js";
import { initLive } from "./live.js";
import { download } from "./panes.js";
import { initOpen } from "./saved-files.js";

const PALETTE_KEY = "inseq-viewer-palette";

function storedPalette(): PaletteId {
  try {
    const v = localStorage.getItem(PALETTE_KEY);
    if (v && v in PALETTES) return v as PaletteId;
  } catch {
    // storage disabled (some file:// setups): the default palette
  }
  return "inseq";
}

function initPalette(): void {
  const select = $<HTMLSelectElement>("palette");
  for (const p of Object.values(PALETTES)) select.append(new Option(p.label, p.id));
  select.value = storedPalette();
  setPalette(document.body, PALETTES[select.value as PaletteId]);
  select.addEventListener("change", () => {
    const id = select.value as PaletteId;
    try {
      localStorage.setItem(PALETTE_KEY, id);
    } catch {
      // not remembered, still applied
    }
    setPalette(document.body, PALETTES[id]);
  });
}

document.body.dataset.mode = "static";
initPalette();
initOpen();
$("download-0").addEventListener("click", () => void download(0));
$("download-1").addEventListener("click", () => void download(1));
initLive();
