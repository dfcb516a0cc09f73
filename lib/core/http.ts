/**
 * `fetch` that honours the proxy variables curl and pip read (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, upper or
 * lower case); Node 20's global fetch ignores them.
 */
import { EnvHttpProxyAgent } from "undici";

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
