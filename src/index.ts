import { createApp } from "./app";
import type { Env } from "./env";

export { Gateway } from "./egress/gateway";

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
