export const name = "dep-a";
