export const extra = true;
