import type { Env } from "../../env";
import type { Backend, GatewayFactory } from "./backend";
import { LocalBackend } from "./local";
import { RunnerPool } from "./runner-pool";

export type { Backend, GatewayFactory };

/** The runner processes configured for this control plane, if any (self-hosted only). */
function runners(env: Env): Fetcher[] {
  const count = Number(env.CORDON_RUNNERS ?? 0);
  const found: Fetcher[] = [];
  for (let i = 0; i < count; i++) {
    const runner: unknown = Reflect.get(env, `RUNNER_${i}`);
    if (isFetcher(runner)) found.push(runner);
  }
  return found;
}

function isFetcher(value: unknown): value is Fetcher {
  return typeof value === "object" && value !== null && "fetch" in value;
}

/** Picks where guests run: the runner pool when `npm start` configured one, else this worker's LOADER. */
export function backendFor(env: Env, gateway: GatewayFactory): Backend {
  const pool = runners(env);
  const maxWarm = Number(env.CORDON_WARM_ISOLATES ?? 64);
  if (pool.length > 0 && env.SUPERVISOR) return new RunnerPool(pool, env.SUPERVISOR, maxWarm);
  return new LocalBackend(env.LOADER, maxWarm, gateway);
}
