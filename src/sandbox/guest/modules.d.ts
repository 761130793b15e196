declare module "*.guest.js" {
  const source: string;
  export default source;
}
