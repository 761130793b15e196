import { Hono } from "hono";
import { css, html, js } from "../../playground/dist/assets.js";
import type { AppEnv } from "../env";

/**
 * The page may load nothing but itself and talk to nothing but this server; CodeMirror sets its
 * styles at run time, hence inline styles. A key in the page never leaves for another origin.
 */
const HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache",
};

/** `GET /`: the playground, open to anyone (it holds no key; the browser keeps the user's). */
export const playground = new Hono<AppEnv>()
  .get("/", (c) => c.body(html, 200, { ...HEADERS, "content-type": "text/html; charset=utf-8" }))
  .get("/playground.js", (c) =>
    c.body(js, 200, { ...HEADERS, "content-type": "text/javascript; charset=utf-8" }),
  )
  .get("/playground.css", (c) =>
    c.body(css, 200, { ...HEADERS, "content-type": "text/css; charset=utf-8" }),
  );
