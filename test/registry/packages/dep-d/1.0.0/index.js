export const name = "dep-d";
