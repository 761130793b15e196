// What the stand-ins take from the harness module ("cordon.js" in a guest isolate, either kind):
// they are modules of their own, which guest code imports by name, and share the harness's state.
export { waitUntil } from "./context";
export { provideStandIn, requireModule } from "./modules";
export { connect } from "./sockets";
