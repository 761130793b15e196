export const name = "dep-c";
