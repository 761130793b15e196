export const sub = "esm";
