// host/build-playground.mjs writes this module before every bundle; typechecking needs no build.
declare module "*/playground/dist/assets.js" {
  export const html: string;
  export const css: string;
  export const js: string;
}
