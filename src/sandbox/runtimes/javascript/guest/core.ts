// What the stand-ins take from the harness module ("cordon.js" in a guest isolate, either kind):
// they are modules of their own, which guest code imports by name, and share the harness's state.
// So do the package modules' runtime (src/packages/runtime.guest.js) and the table of the code's
// packages (`npm-entries.js`, made for each set of packages: src/packages/entries.ts).
export { ErrorCtor, MapCtor, mapGet, StringCtor } from "./builtins";
export { waitUntil } from "./context";
export { moduleSpecifier, providePackages, provideStandIn, requireModule } from "./modules";
export { connect } from "./sockets";
