// The main module of a reused isolate ("harness.js"). Modules are evaluated in the order they are
// first imported (bare imports, so that sorting imports cannot move them): ses's repairs first,
// before any other module of the isolate; the harness, which keeps the built-ins it needs; the
// stand-ins, so that sealing reaches all of them; then the user's module, whose code runs only
// when the harness calls it. The harness is then installed and the isolate sealed.
import "./repair";
import "./core-reused";
import "./stand-ins/workers";
import "./stand-ins/sockets";
import "./stand-ins/module";
import main, { __cordon$imported as imported } from "user.js";
import { start } from "./core-reused";

export default start(main, imported);
