/**
 * A small RFC 4180 reader for CSV/TSV text: fields separated by one delimiter character, optionally quoted with
 * `"` (a quote inside a quoted field is doubled, `""`), records ended by CRLF, LF or CR; quoted fields may span
 * lines. Lenient like Python's csv module: characters after a closing quote are appended to the field.
 */

export interface DelimitedRecord {
  fields: string[];
  /** 1-based line number where the record starts. */
  line: number;
  /** Set when the record cannot be read (an unterminated quoted field). */
  error?: string;
}

/** Yields the records of `text`. A UTF-8 BOM is skipped; blank lines are skipped (as pandas does). */
export function* parseDelimited(text: string, delimiter = ","): Generator<DelimitedRecord> {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === "\n" || delimiter === "\r") {
    throw new RangeError(`invalid delimiter ${JSON.stringify(delimiter)}`);
  }
  const d = delimiter.charCodeAt(0);
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = "";
    let error: string | undefined;
    let endOfRecord = false;
    while (!endOfRecord) {
      // One field.
      if (i < n && text.charCodeAt(i) === 0x22) {
        i++;
        let closed = false;
        let chunkStart = i;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === 0x22) {
            field += text.slice(chunkStart, i);
            if (i + 1 < n && text.charCodeAt(i + 1) === 0x22) {
              field += '"';
              i += 2;
              chunkStart = i;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) line++;
          i++;
        }
        if (!closed) {
          field += text.slice(chunkStart, i);
          error = `unterminated quoted field starting on line ${startLine}`;
        }
      }
      // Unquoted text (or text after a closing quote) up to the delimiter or the end of the line.
      const start = i;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === d || c === 0x0a || c === 0x0d) break;
        i++;
      }
      field += text.slice(start, i);
      fields.push(field);
      field = "";
      if (i >= n) {
        endOfRecord = true;
      } else {
        const c = text.charCodeAt(i);
        if (c === d) {
          i++;
          if (i >= n) {
            fields.push("");
            endOfRecord = true;
          }
        } else {
          i += c === 0x0d && text.charCodeAt(i + 1) === 0x0a ? 2 : 1;
          line++;
          endOfRecord = true;
        }
      }
    }
    if (fields.length === 1 && fields[0] === "" && !error) continue; // blank line
    yield error ? { fields, line: startLine, error } : { fields, line: startLine };
  }
}
