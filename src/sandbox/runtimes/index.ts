import { javascript } from "./javascript";
import type { GuestProgram, GuestRuntime, Language } from "./types";

/** The runtime that runs code written in `language`. */
export function runtimeFor(_language: Language): GuestRuntime {
  return javascript;
}

/** The runtime a program was prepared by, wherever it runs. */
export function runtimeOf(_program: GuestProgram): GuestRuntime {
  return javascript;
}
