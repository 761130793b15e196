export const flavor = "node";
