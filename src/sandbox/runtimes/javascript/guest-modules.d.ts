/** A guest module built by host/guest.mjs, shipped as text (wrangler.toml's Text rule). */
declare module "*.guest.js" {
  const source: string;
  export default source;
}
