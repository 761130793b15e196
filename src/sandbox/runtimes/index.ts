import { javascript } from "./javascript";
import { python } from "./python";
import type { GuestProgram, GuestRuntime, Language } from "./types";

/** The runtime that runs code written in `language`. */
export function runtimeFor(language: Language): GuestRuntime {
  return language === "python" ? (python as GuestRuntime) : (javascript as GuestRuntime);
}

/** The runtime a program was prepared by, wherever it runs. */
export function runtimeOf(program: GuestProgram): GuestRuntime {
  return program.runtime === "python" ? (python as GuestRuntime) : (javascript as GuestRuntime);
}
