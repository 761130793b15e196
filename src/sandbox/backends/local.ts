import type { Execution } from "../capabilities";
import { type GuestJob, runGuest } from "../guest";
import {
  type Backend,
  type Envelope,
  failure,
  type GatewayFactory,
  type Outcome,
  withDeadline,
} from "./backend";

/** Runs guests with this worker's own `LOADER` (tests, `wrangler dev`, Cloudflare). */
export class LocalBackend implements Backend {
  readonly #loader: WorkerLoader;
  readonly #maxWarm: number;
  readonly #gateway: GatewayFactory;

  constructor(loader: WorkerLoader, maxWarm: number, gateway: GatewayFactory) {
    this.#loader = loader;
    this.#maxWarm = maxWarm;
    this.#gateway = gateway;
  }

  async run(job: GuestJob, execution: Execution): Promise<Outcome> {
    const running = runGuest(this.#loader, this.#maxWarm, job, execution.capabilities, () =>
      this.#gateway(job.hash),
    ).then(
      (json): Outcome => ({ kind: "envelope", envelope: JSON.parse(json) as Envelope }),
      (err: unknown): Outcome => failure(err),
    );
    return withDeadline(running, job.limits.timeoutMs, () => ({ kind: "timeout" }));
  }
}
