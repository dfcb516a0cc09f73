/**
 * `fetch` that honours the proxy variables curl and pip read (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, upper or
 * lower case); Node 20's global fetch ignores them. `fetchFromOrigin`: the hub GET (models and datasets) that
 * follows redirects and sends the token to the endpoint's origin only.
 */
import { EnvHttpProxyAgent } from "undici";

import { ErrorCode, InseqError } from "./errors.js";

let cached: { key: string; agent: EnvHttpProxyAgent } | undefined;

/** The proxy settings in `env`, lower case first as undici and curl read them. */
function proxySettings(env: NodeJS.ProcessEnv): { httpProxy: string; httpsProxy: string; noProxy: string } {
  return {
    httpProxy: env.http_proxy || env.HTTP_PROXY || "",
    httpsProxy: env.https_proxy || env.HTTPS_PROXY || "",
    noProxy: env.no_proxy || env.NO_PROXY || "",
  };
}

/** A proxy agent for `settings`, without the "EnvHttpProxyAgent is experimental" warning undici prints once. */
function proxyAgent(settings: ReturnType<typeof proxySettings>): EnvHttpProxyAgent {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = (rest[0] as { code?: string } | undefined)?.code;
    if (code !== "UNDICI-EHPA") (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return new EnvHttpProxyAgent(settings);
  } finally {
    process.emitWarning = emitWarning;
  }
}

/** Global fetch, through an undici `EnvHttpProxyAgent` when `env` sets an HTTP(S) proxy. */
export function httpFetch(url: string | URL | Request, init: RequestInit = {}, env: NodeJS.ProcessEnv = process.env): Promise<Response> {
  const settings = proxySettings(env);
  if (!settings.httpProxy && !settings.httpsProxy) return fetch(url, init);
  const key = JSON.stringify(settings);
  if (cached?.key !== key) {
    void cached?.agent.close().catch(() => {});
    cached = { key, agent: proxyAgent(settings) };
  }
  return fetch(url, { ...init, dispatcher: cached.agent } as RequestInit);
}

/** Redirects followed by `fetchFromOrigin` before giving up. */
export const MAX_REDIRECTS = 10;

/** A request that never reached a server (DNS, refused connection, TLS): callers may fall back to a cache. */
export class UnreachableError extends InseqError {
  readonly unreachable = true;
}

export interface OriginFetchOptions {
  /** The only origin the token is sent to (the hub endpoint's); every other origin gets no Authorization header. */
  tokenOrigin: string;
  /** Bearer token; sent only to `tokenOrigin`. */
  token?: string;
  /** Injected fetch (tests). Default: `httpFetch` (honours proxies). */
  fetch?: typeof fetch;
  /** Named in errors: "config.json of org/name", "the file list of org/ds/default/train". */
  what: string;
  /** Called with every response, redirects included, before it is followed (the Hub's metadata rides on the 302). */
  onResponse?: (res: Response) => void;
}

/**
 * GET `url` following redirects by hand, with `Authorization: Bearer <token>` only on requests to
 * `opts.tokenOrigin`: a redirect or a pagination link to another origin (a CDN, anything a server names) never
 * gets the token. Returns the final (non-redirect) response. A request that fails before any answer throws
 * `UnreachableError` (ERR_NETWORK) naming the origin and the cause; too many redirects throw ERR_NETWORK.
 */
export async function fetchFromOrigin(url0: string | URL, opts: OriginFetchOptions): Promise<Response> {
  const doFetch = opts.fetch ?? httpFetch;
  const tokenOrigin = new URL(opts.tokenOrigin).origin;
  let url = new URL(url0);
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { "user-agent": "inseq-node" };
    if (opts.token && url.origin === tokenOrigin) headers.authorization = `Bearer ${opts.token}`;
    let res: Response;
    try {
      res = await doFetch(url, { headers, redirect: "manual" });
    } catch (err) {
      const cause = (err as { cause?: { message?: string; code?: string } }).cause;
      const reason = cause ? `${cause.code ?? ""} ${cause.message ?? ""}`.trim() : (err as Error).message;
      throw new UnreachableError(ErrorCode.NETWORK, `Cannot reach ${url.origin} for ${opts.what}: ${reason}`, { cause: err });
    }
    opts.onResponse?.(res);
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new InseqError(ErrorCode.NETWORK, `Too many redirects for ${opts.what}`);
      url = new URL(location, url);
      continue;
    }
    return res;
  }
}
