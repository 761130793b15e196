import { REGISTRY } from "../../../durable-objects/tenants";
import { unavailable } from "../../api/problem";
import type { Env } from "../../env";

/** The registry's stub. */
export function registry(env: Env) {
  return env.TENANTS.getByName(REGISTRY);
}

/** How soon a client may try again when the registry did not answer. */
const REGISTRY_RETRY_SECONDS = 1;

/**
 * What a registry call answers. When the registry cannot answer, the request gets a 503 with
 * `Retry-After`: nothing was checked, so it is neither refused (401) nor a bug (500).
 */
export async function fromRegistry<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    console.error("the tenant registry did not answer:", err);
    throw unavailable(
      `the tenant registry did not answer; retry in ${REGISTRY_RETRY_SECONDS} s`,
      REGISTRY_RETRY_SECONDS,
    );
  }
}
