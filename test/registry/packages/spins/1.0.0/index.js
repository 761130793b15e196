// Computes forever as soon as it is imported: package code has no deadline checks.
while (true) {}
export const never = true;
