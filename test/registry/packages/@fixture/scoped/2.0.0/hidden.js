export const hidden = true;
