import { parse } from "acorn";

/**
 * Modules whose guest-side stand-in the code gets instead of the runtime's, by the name the
 * stand-in has in the guest's module map (src/sandbox/guest.ts): `cloudflare:workers` holds ways
 * to keep work running after the execution answered, `node:module` a `require` that would reach
 * every module. `cloudflare:sockets` is shadowed by the module map itself. Dynamic imports are
 * mapped the same way inside the guest (src/sandbox/guest/modules.guest.js).
 */
export const STAND_INS = new Map([
  ["cloudflare:workers", "cloudflare-workers.js"],
  ["node:module", "node-module.js"],
  ["module", "node-module.js"],
]);

const MAY_NAME_STAND_IN = /cloudflare:workers|module/;

/** One import declaration, importing the stand-in instead when its module has one. */
export function withStandIn(declaration: string): string {
  if (!MAY_NAME_STAND_IN.test(declaration)) return declaration;
  const node = parse(declaration, { ecmaVersion: "latest", sourceType: "module" }).body[0];
  if (node?.type !== "ImportDeclaration") return declaration;
  const standIn = STAND_INS.get(String(node.source.value));
  if (standIn === undefined) return declaration;
  return `${declaration.slice(0, node.source.start)}${JSON.stringify(standIn)}${declaration.slice(node.source.end)}`;
}
