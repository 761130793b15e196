import { DurableObject } from "cloudflare:workers";
import { hmacKey } from "../src/bytes";
import type { EgressSecret } from "../src/egress/audit";
import { placeholderFor } from "../src/egress/secrets";
import type { Env } from "../src/env";
import { type KeyCreatedBody, TENANT_ID, type TenantBody } from "../src/schemas/admin";
import {
  DEFAULT_SECRET_PLACES,
  type PolicyBody,
  SECRET_PLACES,
  type SecretBody,
  type SecretPlace,
  type StoredSecret,
} from "../src/schemas/policy";
import { hashApiKey, newApiKey, newKeyId, randomToken } from "../src/tenants/keys";

/** Who an API key belongs to. */
export interface ResolvedKey {
  tenant: string;
  policy: PolicyBody;
  /** Whether the tenant has secrets, so executions without any skip loading them. */
  hasSecrets: boolean;
}

/**
 * The tenant registry: tenants, their policies, hashed API keys and secrets. One instance
 * (`REGISTRY`) holds every tenant, so a key resolves to exactly one tenant with one lookup.
 */
export class Tenants extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      // The returned promise only gates delivery of the first call; nothing else waits on it.
      this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS tenants (
          id TEXT PRIMARY KEY,
          policy TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS api_keys (
          key_id TEXT PRIMARY KEY,
          tenant TEXT NOT NULL REFERENCES tenants(id),
          hash TEXT NOT NULL UNIQUE,
          created_at INTEGER NOT NULL,
          seeded INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys(tenant);
        CREATE TABLE IF NOT EXISTS secrets (
          tenant TEXT NOT NULL REFERENCES tenants(id),
          name TEXT NOT NULL,
          value TEXT NOT NULL,
          hosts TEXT NOT NULL,
          placement TEXT,
          PRIMARY KEY (tenant, name)
        );
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      `);
      // Secrets stored before `in` existed have no placement: they read as headers only.
      const columns = this.#sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('secrets')")
        .toArray();
      if (!columns.some((c) => c.name === "placement")) {
        this.#sql.exec("ALTER TABLE secrets ADD COLUMN placement TEXT");
      }
    });
  }

  /** Creates a tenant with its first API key; `null` when the id is taken. */
  async createTenant(id: string, policy: PolicyBody): Promise<KeyCreatedBody | null> {
    assertTenantId(id);
    const key = await this.#newKey();
    return this.ctx.storage.transactionSync(() => {
      if (this.#exists(id)) return null;
      this.#sql.exec(
        "INSERT INTO tenants (id, policy, created_at) VALUES (?, ?, ?)",
        id,
        JSON.stringify(policy),
        Date.now(),
      );
      this.#insertKey(id, key.keyId, key.hash, false);
      return { keyId: key.keyId, apiKey: key.apiKey };
    });
  }

  /** A tenant's policy, key ids and secret names; `null` when there is no such tenant. */
  async getTenant(id: string): Promise<TenantBody | null> {
    const row = this.#sql
      .exec<{ policy: string }>("SELECT policy FROM tenants WHERE id = ?", id)
      .toArray()[0];
    if (!row) return null;
    const keys = this.#sql
      .exec<{ key_id: string; created_at: number }>(
        "SELECT key_id, created_at FROM api_keys WHERE tenant = ? ORDER BY created_at, key_id",
        id,
      )
      .toArray()
      .map((k) => ({ keyId: k.key_id, createdAt: new Date(k.created_at).toISOString() }));
    const secrets = this.#sql
      .exec<{ name: string }>("SELECT name FROM secrets WHERE tenant = ? ORDER BY name", id)
      .toArray()
      .map((s) => s.name);
    return { id, policy: parsePolicy(row.policy), keys, secrets };
  }

  /** Replaces a tenant's whole policy; `false` when there is no such tenant. */
  async setPolicy(id: string, policy: PolicyBody): Promise<boolean> {
    const cursor = this.#sql.exec(
      "UPDATE tenants SET policy = ? WHERE id = ?",
      JSON.stringify(policy),
      id,
    );
    return cursor.rowsWritten > 0;
  }

  /** Adds an API key to a tenant; `null` when there is no such tenant. */
  async addKey(id: string): Promise<KeyCreatedBody | null> {
    const key = await this.#newKey();
    return this.ctx.storage.transactionSync(() => {
      if (!this.#exists(id)) return null;
      this.#insertKey(id, key.keyId, key.hash, false);
      return { keyId: key.keyId, apiKey: key.apiKey };
    });
  }

  /** Deletes one of a tenant's keys; `false` when the tenant has no such key. */
  async revokeKey(id: string, keyId: string): Promise<boolean> {
    const cursor = this.#sql.exec(
      "DELETE FROM api_keys WHERE tenant = ? AND key_id = ?",
      id,
      keyId,
    );
    return cursor.rowsWritten > 0;
  }

  /** Sets (or replaces) a secret; `false` when there is no such tenant. */
  async setSecret(id: string, name: string, secret: SecretBody): Promise<boolean> {
    return this.ctx.storage.transactionSync(() => {
      if (!this.#exists(id)) return false;
      this.#upsertSecret(id, name, secret);
      return true;
    });
  }

  /** The tenant an API key belongs to, with its policy; `null` for a key nobody holds. */
  async resolveKey(apiKey: string): Promise<ResolvedKey | null> {
    const hash = await hashApiKey(apiKey);
    const row = this.#sql
      .exec<{ tenant: string; policy: string; has_secrets: number }>(
        "SELECT t.id AS tenant, t.policy AS policy, EXISTS (SELECT 1 FROM secrets s WHERE s.tenant = t.id) AS has_secrets FROM api_keys k JOIN tenants t ON t.id = k.tenant WHERE k.hash = ?",
        hash,
      )
      .toArray()[0];
    return row
      ? { tenant: row.tenant, policy: parsePolicy(row.policy), hasSecrets: row.has_secrets === 1 }
      : null;
  }

  /**
   * The key that signs session tokens, made once and kept with the registry's data, so tokens
   * survive a restart of the server.
   */
  sessionSigningKey(): string {
    const row = this.#sql
      .exec<{ value: string }>("SELECT value FROM meta WHERE key = 'session-signing-key'")
      .toArray()[0];
    if (row) return row.value;
    const value = randomToken(32);
    this.#sql.exec("INSERT INTO meta (key, value) VALUES ('session-signing-key', ?)", value);
    return value;
  }

  /** Secret values with their bindings, for the egress gateway only: never for an HTTP answer. */
  async getSecrets(id: string): Promise<Record<string, StoredSecret>> {
    const secrets: Record<string, StoredSecret> = {};
    for (const row of this.#sql.exec<SecretRow>(
      "SELECT name, value, hosts, placement FROM secrets WHERE tenant = ?",
      id,
    )) {
      secrets[row.name] = {
        value: row.value,
        hosts: parseHosts(row.hosts),
        in: parsePlaces(row.placement),
      };
    }
    return secrets;
  }

  /**
   * A tenant's secrets as the egress gateway uses them, each with its placeholder: a keyed hash
   * of tenant and name under a key made once and kept with the registry's data, so it cannot be
   * guessed and stays the same for every run (warm isolates are shared by a tenant's runs).
   */
  async egressSecrets(id: string): Promise<EgressSecret[]> {
    const rows = this.#sql
      .exec<SecretRow>(
        "SELECT name, value, hosts, placement FROM secrets WHERE tenant = ? ORDER BY name",
        id,
      )
      .toArray();
    if (rows.length === 0) return [];
    const key = await hmacKey(this.#placeholderKey());
    const secrets: EgressSecret[] = [];
    for (const row of rows) {
      secrets.push({
        name: row.name,
        value: row.value,
        hosts: parseHosts(row.hosts),
        in: parsePlaces(row.placement),
        placeholder: await placeholderFor(key, id, row.name),
      });
    }
    return secrets;
  }

  #placeholderKey(): string {
    const row = this.#sql
      .exec<{ value: string }>("SELECT value FROM meta WHERE key = 'placeholder-key'")
      .toArray()[0];
    if (row) return row.value;
    const value = randomToken(32);
    this.#sql.exec("INSERT INTO meta (key, value) VALUES ('placeholder-key', ?)", value);
    return value;
  }

  /**
   * Makes tenant `dev` exist with `apiKey` as its configured key. Idempotent, so every isolate may
   * call it when it starts. The configured policy and secrets are applied when the tenant is made
   * and again whenever the configuration changes; otherwise what the admin API set since is kept.
   * "key-taken" (nothing changed) when the key is another tenant's: a configuration error, not
   * an outage.
   */
  async seedDevTenant(
    apiKey: string,
    policy: PolicyBody = {},
    secrets: Record<string, SecretBody> = {},
  ): Promise<"seeded" | "key-taken"> {
    const hash = await hashApiKey(apiKey);
    const fingerprint = await hashApiKey(JSON.stringify({ policy, secrets }));
    const keyId = newKeyId();
    return this.ctx.storage.transactionSync(() => {
      const id = "dev";
      const owner = this.#sql
        .exec<{ tenant: string }>("SELECT tenant FROM api_keys WHERE hash = ?", hash)
        .toArray()[0];
      if (owner && owner.tenant !== id) return "key-taken";
      const created = !this.#exists(id);
      if (created) {
        this.#sql.exec(
          "INSERT INTO tenants (id, policy, created_at) VALUES (?, ?, ?)",
          id,
          JSON.stringify(policy),
          Date.now(),
        );
      }
      const seeded = this.#sql
        .exec<{ value: string }>("SELECT value FROM meta WHERE key = 'dev-seed'")
        .toArray()[0];
      if (created || seeded?.value !== fingerprint) {
        this.#sql.exec("UPDATE tenants SET policy = ? WHERE id = ?", JSON.stringify(policy), id);
        for (const [name, secret] of Object.entries(secrets)) this.#upsertSecret(id, name, secret);
        this.#sql.exec(
          "INSERT INTO meta (key, value) VALUES ('dev-seed', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
          fingerprint,
        );
      }
      // A key configured earlier and since replaced must stop working.
      this.#sql.exec(
        "DELETE FROM api_keys WHERE tenant = ? AND seeded = 1 AND hash != ?",
        id,
        hash,
      );
      if (!owner) this.#insertKey(id, keyId, hash, true);
      return "seeded";
    });
  }

  #exists(id: string): boolean {
    return this.#sql.exec("SELECT 1 FROM tenants WHERE id = ?", id).toArray().length > 0;
  }

  async #newKey(): Promise<KeyCreatedBody & { hash: string }> {
    const apiKey = newApiKey();
    return { keyId: newKeyId(), apiKey, hash: await hashApiKey(apiKey) };
  }

  #insertKey(tenant: string, keyId: string, hash: string, seeded: boolean): void {
    this.#sql.exec(
      "INSERT INTO api_keys (key_id, tenant, hash, created_at, seeded) VALUES (?, ?, ?, ?, ?)",
      keyId,
      tenant,
      hash,
      Date.now(),
      seeded ? 1 : 0,
    );
  }

  #upsertSecret(tenant: string, name: string, secret: SecretBody): void {
    this.#sql.exec(
      "INSERT INTO secrets (tenant, name, value, hosts, placement) VALUES (?, ?, ?, ?, ?) ON CONFLICT(tenant, name) DO UPDATE SET value = excluded.value, hosts = excluded.hosts, placement = excluded.placement",
      tenant,
      name,
      secret.value,
      JSON.stringify(secret.hosts),
      secret.in === undefined ? null : JSON.stringify(secret.in),
    );
  }
}

function assertTenantId(id: string): void {
  if (!TENANT_ID.test(id)) throw new Error(`invalid tenant id: ${JSON.stringify(id)}`);
}

// Rows were written by this class from validated input, so parsing only restores their type.
function parsePolicy(json: string): PolicyBody {
  const value: unknown = JSON.parse(json);
  return typeof value === "object" && value !== null ? (value as PolicyBody) : {};
}

type SecretRow = {
  name: string;
  value: string;
  hosts: string;
  placement: string | null;
};

function parsePlaces(json: string | null): SecretPlace[] {
  if (json === null) return [...DEFAULT_SECRET_PLACES];
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value)) return [...DEFAULT_SECRET_PLACES];
  return SECRET_PLACES.filter((place) => value.includes(place));
}

function parseHosts(json: string): string[] {
  const value: unknown = JSON.parse(json);
  return Array.isArray(value) ? value.filter((h): h is string => typeof h === "string") : [];
}
