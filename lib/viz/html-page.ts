/** The one standalone HTML page every renderer wraps its body in (attribution heatmaps, token views, evaluation reports). */
import { escapeHtml } from "./html-escape.js";

/** A complete UTF-8 page: `title` (escaped here), one `<style>` block, then `body` lines as given (already HTML). */
export function htmlPage(title: string, style: string, body: readonly string[]): string {
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${style}</style>`,
    "</head>",
    "<body>",
    ...body,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
