export const name = "dep-e";
