export const name = "dep-b";
