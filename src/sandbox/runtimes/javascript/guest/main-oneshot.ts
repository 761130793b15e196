// The main module of a one-shot isolate ("harness.js"). Modules are evaluated in the order they
// are first imported: the harness first (a bare import, so that sorting imports cannot move it),
// which keeps the built-ins it needs before anything else runs; then the user's module, whose code
// runs only when the harness calls it. The harness is then installed and the isolate sealed, still
// before any user code runs.
import "./core-oneshot";
import main, { __cordon$imported as imported } from "user.js";
import { start } from "./core-oneshot";

export default start(main, imported);
