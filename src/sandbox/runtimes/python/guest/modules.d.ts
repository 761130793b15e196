declare module "*.guest.py" {
  const source: string;
  export default source;
}
