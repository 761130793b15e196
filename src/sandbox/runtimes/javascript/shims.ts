import { parse } from "acorn";
import { RESERVED_PREFIX } from "./instrument";

/**
 * Modules whose guest-side stand-in the code gets instead of the runtime's, by the name the
 * stand-in has in the guest's module map (./index.ts): `cloudflare:workers` holds ways
 * to keep work running after the execution answered, `node:module` a `require` that would reach
 * every module. `cloudflare:sockets` is shadowed by the module map itself. Dynamic imports are
 * mapped the same way inside the guest (./guest/modules.ts).
 */
export const STAND_INS = new Map([
  ["cloudflare:workers", "cloudflare-workers.js"],
  ["node:module", "node-module.js"],
  ["module", "node-module.js"],
]);

/** What the compiled module exports: the modules its import declarations name. */
export const IMPORTED = `${RESERVED_PREFIX}imported`;

/**
 * The compiled module's import declarations, each importing the stand-in where its module has
 * one, and a last line exporting the other modules they name: a reused isolate freezes those
 * before any run (./guest/seal-reused.ts).
 */
export function guestImports(declarations: string[]): string {
  const named: string[] = [];
  let out = "";
  for (const declaration of declarations) {
    const node = parse(declaration, { ecmaVersion: "latest", sourceType: "module" }).body[0];
    if (node?.type !== "ImportDeclaration") {
      out += `${declaration}\n`;
      continue;
    }
    const specifier = String(node.source.value);
    const standIn = STAND_INS.get(specifier);
    if (standIn === undefined) {
      named.push(specifier);
      out += `${declaration}\n`;
    } else {
      out += `${declaration.slice(0, node.source.start)}${JSON.stringify(standIn)}${declaration.slice(node.source.end)}\n`;
    }
  }
  return `${out}export const ${IMPORTED} = ${JSON.stringify(named)};\n`;
}
