export const feature = "a";
