/** Builds what the gateway needs for one execution: policy layers, secrets, caps. */
import { DEFAULT_EGRESS_CAPS } from "../config";
import type { Env } from "../env";
import type { EgressSecret, ExecutionEgress } from "./audit";
import type { EgressPolicy } from "./policy";

export interface EgressLayers {
  /** The tenant policy's `egress`; absent means the tenant allows nothing. */
  tenantPolicy?: EgressPolicy;
  /** The session's `egress`, for executions in a session that narrowed it. */
  session?: EgressPolicy;
  /** The execution request's `egress`. */
  request?: EgressPolicy;
  /** The tenant's secrets, loaded by the caller: egress never asks the tenant registry. */
  secrets: EgressSecret[];
}

/**
 * The effective egress of an execution: tenant ∩ session ∩ request, as layers that must all
 * allow a request (so a narrower layer can never widen another), with the tenant's secrets.
 */
export function executionEgress(env: Env, layers: EgressLayers): ExecutionEgress {
  return {
    layers: [layers.tenantPolicy ?? { allow: [] }, layers.session, layers.request].filter(
      (layer): layer is EgressPolicy => layer !== undefined,
    ),
    secrets: layers.secrets,
    allowPrivate: env.CORDON_ALLOW_PRIVATE_EGRESS === "1",
    caps: DEFAULT_EGRESS_CAPS,
  };
}
