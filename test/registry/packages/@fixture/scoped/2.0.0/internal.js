export const secret = "internal";
