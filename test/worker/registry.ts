// The registry fixture as the worker tests see it (test/e2e/registry.ts serves it on loopback).
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    registry: string;
  }
}

/** The fixture's address. */
export function registryUrl(): string {
  return inject("registry");
}

/** Paths the fixture was asked for since the last call (which clears the log). */
export async function takeRegistryRequests(): Promise<string[]> {
  const response = await fetch(`${registryUrl()}/-/requests`, { method: "DELETE" });
  return response.json();
}
