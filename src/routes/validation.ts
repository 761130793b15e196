import type { Hook } from "@hono/zod-openapi";
import { badRequest } from "../api/problem";

/** The one hook for every validation failure: a 400 problem listing each field's error. */
// biome-ignore lint/suspicious/noExplicitAny: the hook is shared by routes of every shape.
export const validationHook: Hook<any, any, any, any> = (result) => {
  if (result.success) return;
  const errors = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(body)",
    message: issue.message,
  }));
  throw badRequest(
    `the request body is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
    errors,
  );
};
