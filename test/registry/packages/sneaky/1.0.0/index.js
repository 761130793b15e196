export function load(specifier) {
  return import(specifier);
}
