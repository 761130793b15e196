// vitest globalSetup of the worker tests: the registry fixture on loopback, its address and a way
// to read its request log handed to the tests (`inject("registry")`).
import type { TestProject } from "vitest/node";
import "../worker/registry";
import { startRegistry } from "./registry";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const registry = await startRegistry();
  project.provide("registry", registry.url);
  return () => registry.close();
}
