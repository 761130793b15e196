/** Bindings and configuration of the control-plane worker. */
export interface Env {
  LOADER: WorkerLoader;
  /** The dev tenant's API key; when unset, no tenant key is accepted. */
  CORDON_DEV_API_KEY?: string;
  /** Largest number of distinct warm isolates this process keeps (see docs/isolates.md). */
  CORDON_WARM_ISOLATES?: string;
}

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof import("./index");
    }
  }
}
