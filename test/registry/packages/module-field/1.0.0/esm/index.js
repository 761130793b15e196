export const via = "module";
