/**
 * Opening a saved Inseq attribution file in the browser (file picker or drag and drop): `.json`, or gzip
 * (`.json.gz`, detected by its magic bytes) through `DecompressionStream`; the text is then decoded by the
 * library's own reader (`results/inseq-json-read.ts`).
 */

/** The text of a saved file, gunzipped when it starts with the gzip magic bytes. */
export async function fileText(file: Blob): Promise<string> {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const stream = file.stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  return file.text();
}
