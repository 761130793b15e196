import { secret } from "#internal";

export const flavor = "workerd";
export const internal = secret;
