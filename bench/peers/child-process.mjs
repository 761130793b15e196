// Peer: a new Node process for every execution (spawn process.execPath, read a JSON line back).
// No sandbox is added: it is the floor of "a process per execution", which container and
// microVM sandboxes pay and then add their own start-up to.
import { servePeer } from "./http.mjs";
import { runJsonProcess } from "./process.mjs";

// Runs the code as a script (so its value is the completion value, as in a REPL), awaits it and
// prints one JSON line. Kept inline so the child reads no file before it runs the code.
const RUNNER = `
const vm = require("node:vm");
const out = (body) => process.stdout.write(JSON.stringify(body) + "\\n");
(async () => vm.runInThisContext(process.argv[1], { filename: "user.js" }))()
  .then((result) => out({ status: "ok", result }))
  .catch((err) => out({ status: "error", error: {
    name: typeof err?.name === "string" ? err.name : "Error",
    message: typeof err?.message === "string" ? err.message : String(err) } }));
`;

/** Runs `code` in a new process; resolves with its result or rejects with its error. */
export function run(code) {
  return runJsonProcess(process.execPath, ["-e", RUNNER, code], "the child process");
}

if (import.meta.url === `file://${process.argv[1]}`) servePeer("child-process", run);
