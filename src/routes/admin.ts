import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { notFound, Problem } from "../api/problem";
import { ADMIN_BODY_BYTES, INCIDENTS } from "../config";
import type { AppEnv } from "../env";
import { forgetTenantKeys } from "../middleware/auth";
import { adminAuth } from "../middleware/auth/admin";
import { limitBody } from "../middleware/body-limit";
import { jsonBody } from "../middleware/json-body";
import {
  IncidentList,
  KeyCreated,
  KeyId,
  NewTenant,
  Tenant,
  TenantCreated,
  TenantId,
} from "../schemas/admin";
import { problemDoc } from "../schemas/execution";
import { Policy, Secret, SecretName } from "../schemas/policy";
import { forgetTenantSecrets, registry } from "../tenants/registry";
import { unmatched } from "./shared";
import { validationHook } from "./validation";

const guarded = {
  401: problemDoc("No valid admin token"),
  404: problemDoc("No such tenant (or the admin API is off: no admin token is configured)"),
} as const;

const requireJson = jsonBody();

const json = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

const createTenantRoute = createRoute({
  method: "post",
  path: "/tenants",
  summary: "Create a tenant and its first API key (shown once)",
  security: [{ adminToken: [] }],
  middleware: requireJson,
  request: { body: json(NewTenant) },
  responses: {
    201: {
      description: "The tenant, with an API key shown only in this answer",
      content: { "application/json": { schema: TenantCreated } },
    },
    400: problemDoc("The body is not a valid tenant"),
    409: problemDoc("A tenant with this id exists"),
    ...guarded,
  },
});

const getTenantRoute = createRoute({
  method: "get",
  path: "/tenants/{id}",
  summary: "A tenant's policy, key ids and secret names",
  security: [{ adminToken: [] }],
  request: { params: z.object({ id: TenantId }) },
  responses: {
    200: { description: "The tenant", content: { "application/json": { schema: Tenant } } },
    400: problemDoc("The id is not a valid tenant id"),
    ...guarded,
  },
});

const setPolicyRoute = createRoute({
  method: "put",
  path: "/tenants/{id}/policy",
  summary: "Replace a tenant's whole policy",
  security: [{ adminToken: [] }],
  middleware: requireJson,
  request: { params: z.object({ id: TenantId }), body: json(Policy) },
  responses: {
    204: { description: "Replaced; applies from the tenant's next request" },
    400: problemDoc("The body is not a valid policy"),
    ...guarded,
  },
});

const addKeyRoute = createRoute({
  method: "post",
  path: "/tenants/{id}/keys",
  summary: "Add an API key to a tenant (shown once)",
  security: [{ adminToken: [] }],
  request: { params: z.object({ id: TenantId }) },
  responses: {
    201: {
      description: "The key, shown only in this answer",
      content: { "application/json": { schema: KeyCreated } },
    },
    400: problemDoc("The id is not a valid tenant id"),
    ...guarded,
  },
});

const revokeKeyRoute = createRoute({
  method: "delete",
  path: "/tenants/{id}/keys/{keyId}",
  summary: "Revoke an API key; it stops working at once",
  security: [{ adminToken: [] }],
  request: { params: z.object({ id: TenantId, keyId: KeyId }) },
  responses: {
    204: { description: "Revoked" },
    400: problemDoc("The id or key id is malformed"),
    ...guarded,
  },
});

const setSecretRoute = createRoute({
  method: "put",
  path: "/tenants/{id}/secrets/{name}",
  summary: "Set a secret: code sees a placeholder, the named hosts get the value",
  security: [{ adminToken: [] }],
  middleware: requireJson,
  request: { params: z.object({ id: TenantId, name: SecretName }), body: json(Secret) },
  responses: {
    204: { description: "Set" },
    400: problemDoc("The body is not a valid secret"),
    ...guarded,
  },
});

const noSuchTenant = (id: string) => notFound(`there is no tenant ${JSON.stringify(id)}`);

const listIncidentsRoute = createRoute({
  method: "get",
  path: "/incidents",
  summary: "Hostile executions that were stopped, capped or killed (oldest first)",
  security: [{ adminToken: [] }],
  responses: {
    200: {
      description: "The kept incidents (the last 1,000)",
      content: { "application/json": { schema: IncidentList } },
    },
    ...guarded,
  },
});

/**
 * `/v1/admin`: tenants, their policies, keys and secrets; incidents. Every path under it takes
 * the admin token, and only that.
 */
export const admin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

admin.openAPIRegistry.registerComponent("securitySchemes", "adminToken", {
  type: "http",
  scheme: "bearer",
  description: "The server's admin token (CORDON_ADMIN_TOKEN)",
});

admin.use(adminAuth(), limitBody(ADMIN_BODY_BYTES));
admin
  .openapi(createTenantRoute, async (c) => {
    const { id, policy } = c.req.valid("json");
    const key = await registry(c.env).createTenant(id, policy ?? {});
    if (!key) {
      throw new Problem(409, "conflict", "Conflict", `a tenant ${JSON.stringify(id)} exists`);
    }
    return c.json({ id, apiKey: key.apiKey, keyId: key.keyId }, 201);
  })
  .openapi(getTenantRoute, async (c) => {
    const { id } = c.req.valid("param");
    const tenant = await registry(c.env).getTenant(id);
    if (!tenant) throw noSuchTenant(id);
    return c.json(tenant, 200);
  })
  .openapi(setPolicyRoute, async (c) => {
    const { id } = c.req.valid("param");
    if (!(await registry(c.env).setPolicy(id, c.req.valid("json")))) throw noSuchTenant(id);
    forgetTenantKeys(id);
    return c.body(null, 204);
  })
  .openapi(addKeyRoute, async (c) => {
    const { id } = c.req.valid("param");
    const key = await registry(c.env).addKey(id);
    if (!key) throw noSuchTenant(id);
    return c.json({ keyId: key.keyId, apiKey: key.apiKey }, 201);
  })
  .openapi(revokeKeyRoute, async (c) => {
    const { id, keyId } = c.req.valid("param");
    if (!(await registry(c.env).revokeKey(id, keyId))) {
      throw notFound(`tenant ${JSON.stringify(id)} has no key ${JSON.stringify(keyId)}`);
    }
    forgetTenantKeys(id);
    return c.body(null, 204);
  })
  .openapi(setSecretRoute, async (c) => {
    const { id, name } = c.req.valid("param");
    if (!(await registry(c.env).setSecret(id, name, c.req.valid("json")))) throw noSuchTenant(id);
    // The next execution served here must see the new value (and know the tenant has secrets).
    forgetTenantKeys(id);
    forgetTenantSecrets(id);
    return c.body(null, 204);
  })
  .openapi(listIncidentsRoute, async (c) => {
    const incidents = await c.env.INCIDENTS.getByName(INCIDENTS).list();
    return c.json({ incidents }, 200);
  });
admin.all("*", unmatched);
