// Peer: CPython (`python3`) in a new process per execution under bwrap (new namespaces of every
// kind, the root file system read-only). Not isolation comparable to Cordon's (the guest runs
// natively against the host kernel, with no memory or CPU limits): the floor of "a process per
// Python execution".
import { execFileSync } from "node:child_process";
import { servePeer } from "./http.mjs";
import { runJsonProcess } from "./process.mjs";

// The interpreter itself, not a version manager's shim: bwrap runs it with no environment.
const PYTHON = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], {
  encoding: "utf8",
}).trim();

// Runs the code as Cordon does, the last top-level expression being the result, and prints one
// JSON line. Inline (`-c`) so the process reads no file of ours before it runs the code.
const RUNNER = `
import ast, json, sys
def main(source):
    tree = ast.parse(source, "<code>")
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    scope = {"__name__": "__main__"}
    exec(compile(tree, "<code>", "exec"), scope)
    if last is None:
        return None
    return eval(compile(ast.Expression(last.value), "<code>", "eval"), scope)
try:
    answer = {"status": "ok", "result": main(sys.argv[1])}
except BaseException as err:
    answer = {"status": "error", "error": {"name": type(err).__name__, "message": str(err)}}
print(json.dumps(answer, default=repr))
`;

const BWRAP = [
  "--unshare-all",
  "--die-with-parent",
  "--new-session",
  "--ro-bind",
  "/",
  "/",
  "--dev",
  "/dev",
  "--proc",
  "/proc",
  "--tmpfs",
  "/tmp",
];

/** Runs `code` in a new sandboxed python3; resolves with its result or rejects with its error. */
export function run(code) {
  return runJsonProcess("bwrap", [...BWRAP, PYTHON, "-I", "-c", RUNNER, code], "python3");
}

if (import.meta.url === `file://${process.argv[1]}`) servePeer("python3-bwrap", run);
