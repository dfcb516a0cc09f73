/**
 * Optional bearer-token auth of `inseq serve`. The presented token and the configured one are compared as SHA-256
 * digests with crypto.timingSafeEqual: equal-length buffers whatever was sent, so neither the content nor the
 * length of the token leaks through the comparison's timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";

import { ErrorCode, InseqError } from "../core/errors.js";

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/** A checker for `Authorization: Bearer <token>` headers against `token`. */
export function bearerChecker(token: string): (header: string | undefined) => boolean {
  if (token.length === 0) throw new InseqError(ErrorCode.INVALID_OPTION, "Expected a non-empty string for token but received an empty string");
  const expected = digest(token);
  return (header) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
    // Compare something even without a token, so a missing header takes the same path.
    const ok = timingSafeEqual(digest(m?.[1] ?? ""), expected);
    return m !== null && ok;
  };
}

export function unauthorized(): InseqError {
  return new InseqError(ErrorCode.UNAUTHORIZED, "Expected an Authorization: Bearer <token> header with the server's token for the request but received none or another token");
}

/** Routes open without a token: the health check and the viewer's static files (the page asks for the token itself). */
export function isPublicRoute(method: string, url: string): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  const pathOnly = url.split("?")[0]!;
  return pathOnly === "/healthz" || pathOnly === "/" || pathOnly.startsWith("/viewer/");
}
