import { z } from "@hono/zod-openapi";
import { Policy } from "./policy";

/** Tenant ids: a DNS label, so a tenant can have its own host name. */
export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const TenantId = z
  .string()
  .regex(
    TENANT_ID,
    "must be 1-63 lowercase letters, digits or '-', starting with a letter or digit",
  )
  .openapi({ param: { name: "id", in: "path" }, example: "acme" });

export const KeyId = z
  .string()
  .regex(/^key_[A-Za-z0-9_-]{1,64}$/, "must be a key id such as key_AbC123")
  .openapi({ param: { name: "keyId", in: "path" }, example: "key_3q2-7wEjvM5bXaQh" });

export const NewTenant = z
  .object({ id: TenantId.openapi({ description: "The tenant id." }), policy: Policy.optional() })
  .strict()
  .openapi("NewTenant");

export const TenantCreated = z
  .object({ id: z.string(), apiKey: z.string(), keyId: z.string() })
  .openapi("TenantCreated");

export const KeyCreated = z.object({ keyId: z.string(), apiKey: z.string() }).openapi("KeyCreated");

export const Tenant = z
  .object({
    id: z.string(),
    policy: Policy,
    keys: z.array(z.object({ keyId: z.string(), createdAt: z.string() })),
    secrets: z.array(z.string()).openapi({ description: "Secret names; values are never shown." }),
  })
  .openapi("Tenant");

/** A hostile execution, as `GET /v1/admin/incidents` lists it. */
export const Incident = z.object({
  at: z.string(),
  tenant: z.string(),
  codeHash: z.string(),
  reason: z.string(),
  /** Until when (ISO time) this code is refused to this tenant, if it took a runtime down. */
  quarantinedUntil: z.string().optional(),
});

export const IncidentList = z.object({ incidents: z.array(Incident) }).openapi("IncidentList");

/** A tenant as the admin API shows it: never a key, never a secret value. */
export type TenantBody = z.infer<typeof Tenant>;
/** A freshly made API key: the only time its value exists outside the caller's hands. */
export type KeyCreatedBody = z.infer<typeof KeyCreated>;
export type IncidentBody = z.infer<typeof Incident>;
