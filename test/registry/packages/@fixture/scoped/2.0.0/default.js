export const flavor = "default";
