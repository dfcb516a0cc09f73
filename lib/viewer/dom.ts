/** What every part of the page uses: elements by id, and the error line. */

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** Shows `err` (an `ApiError`, an `InseqError`, anything with a message) in the page's alert line; null clears it. */
export function showError(err: unknown): void {
  const e = err as { code?: string; message?: string };
  $("error").textContent = err ? `${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}` : "";
}
