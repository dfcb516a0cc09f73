import { readFile } from "node:fs/promises";

/** A string field of a JSON file (the first element when it is a list), or "" when absent or unreadable. */
export async function readJsonField(file: string, key: string): Promise<string> {
  try {
    const v = JSON.parse(await readFile(file, "utf8"))[key];
    return Array.isArray(v) ? String(v[0] ?? "") : typeof v === "string" ? v : "";
  } catch {
    return "";
  }
}
