// What the process-per-execution peers share: spawn a process that runs the code and prints one
// JSON line, `{status: "ok", result}` or `{status: "error", error: {name, message}}`.
import { spawn } from "node:child_process";

const TIMEOUT_MS = 10_000;

/**
 * Runs `command` with `args` (no environment, 10 s at most); resolves with the result its JSON
 * line gives or rejects with its error; `what` names the process in a failure.
 */
export function runJsonProcess(command, args, what) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "ignore"],
      env: {},
      timeout: TIMEOUT_MS,
    });
    let stdout = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.on("error", reject);
    child.on("close", (status, signal) => {
      let body;
      try {
        body = JSON.parse(stdout);
      } catch {
        const why = signal ? `killed by ${signal}` : `exited with ${status}`;
        return reject(new Error(`${what} ${why} without a result`));
      }
      if (body.status === "ok") resolve(body.result);
      else reject(Object.assign(new Error(body.error.message), { name: body.error.name }));
    });
  });
}
