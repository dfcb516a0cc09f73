/**
 * `inseq/serve`: the HTTP server of `inseq serve` for embedding in an application (docs/serve.md). A separate
 * entry point, so that `import "inseq"` does not load Fastify.
 *
 * @example
 * import { createServer } from "inseq/serve";
 * const server = await createServer({ allow: ["./models/*"], token: process.env.INSEQ_SERVE_TOKEN });
 * console.log(await server.listen({ port: 0 }));
 */
export { createServer } from "./server.js";
export type { InseqServer, ServeOptions } from "./server.js";
export { DEFAULT_LIMITS } from "./limits.js";
export type { ServeLimits } from "./limits.js";
export { STATUS_BY_CODE } from "./errors.js";
