// Starts and watches the workerd processes of the self-hosted runtime: the control plane and a
// pool of runners. A runner that dies is restarted; one the control plane reports hung, or one
// over its memory ceiling, is killed and restarted.
import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { controlSocket, runnerSocket } from "./config.mjs";
import { seccompProgram } from "./seccomp.mjs";

/** A runner's whole environment: the supervisor's holds secrets. UTC, as on Cloudflare. */
const RUNNER_ENV = { TZ: "UTC" };

/** bwrap's path, found once: it runs with no environment, so with no PATH to search. */
const BWRAP =
  (process.env.PATH ?? "")
    .split(":")
    .map((dir) => join(dir, "bwrap"))
    .find(existsSync) ?? "bwrap";

/** True if bubblewrap can make a namespace sandbox on this host. */
export function namespacesAvailable() {
  const probe = spawnSync(
    BWRAP,
    ["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "true"],
    { stdio: "ignore" },
  );
  return probe.status === 0;
}

/** util-linux's setpriv (on every Debian), to have children killed when the supervisor dies. */
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((path) => existsSync(path));

/**
 * The command and arguments that run `command` so that it is killed when this process dies, even
 * by SIGKILL (the parent-death signal), where setpriv exists; else `command` as it is.
 */
function dyingWithParent(command, args) {
  return SETPRIV ? [SETPRIV, ["--pdeathsig", "KILL", command, ...args]] : [command, args];
}

/** The workerd executable itself: `node_modules/workerd/bin/workerd` may be a wrapper script. */
export function workerdExecutable() {
  return realpathSync(createRequire(import.meta.url)("workerd").default);
}

/**
 * An executable and the shared libraries it loads (`ldd`), the files a sandbox must show to run
 * it. glibc also loads libgcc_s at run time (workerd does at start, for backtraces and thread
 * cancellation), from beside libc.
 */
export function executableFiles(executable) {
  const listed = spawnSync("ldd", [executable], { encoding: "utf8" });
  const libraries = [...(listed.stdout ?? "").matchAll(/(?:=>\s+|^\s*)(\/\S+)/gm)].map(
    (match) => match[1],
  );
  if (listed.status !== 0 && !/not a dynamic executable/.test(listed.stderr ?? "")) {
    throw new Error(`ldd ${executable}: ${listed.error?.message ?? listed.stderr}`);
  }
  const libc = libraries.find((path) => /\/libc\.so\.\d+$/.test(path));
  const gcc = libc ? join(dirname(libc), "libgcc_s.so.1") : "";
  if (gcc && existsSync(gcc) && !libraries.includes(gcc)) libraries.push(gcc);
  return [executable, ...libraries];
}

/** What the runner sandbox adds around a runner process, as `/healthz` names it. */
export function sandboxLayers() {
  const layers = ["namespaces", "no-network", "minimal-filesystem", "no-capabilities"];
  return seccompProgram() ? [...layers, "seccomp"] : layers;
}

/**
 * bwrap arguments: new namespaces of every kind (a network namespace with nothing in it), no
 * capabilities, and a filesystem of nothing but the `executable`'s files (`executableFiles`),
 * the `readOnly` paths and the `writable` directories, bound where they are on the host, with a
 * minimal /dev and the sandbox's own /proc; everything else, / and /dev included, is read-only.
 * No environment but `env`; with `seccompFd`, the seccomp filter bwrap reads from that file
 * descriptor (host/seccomp.mjs).
 */
export function sandboxArgs({ executable, readOnly = [], writable = [], env = {}, seccompFd }) {
  // The libraries are bound where ldd found them, which without ld.so.cache may not be searched.
  const libraries = [...new Set(executable.slice(1).map((path) => dirname(path)))].join(":");
  return [
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--clearenv",
    ...Object.entries({ ...env, LD_LIBRARY_PATH: libraries }).flatMap(([name, value]) => [
      "--setenv",
      name,
      value,
    ]),
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    ...[...executable, ...readOnly].flatMap((path) => ["--ro-bind", path, path]),
    ...writable.flatMap((path) => ["--bind", path, path]),
    "--remount-ro",
    "/dev",
    "--remount-ro",
    "/",
    "--chdir",
    "/",
    ...(seccompFd === undefined ? [] : ["--seccomp", String(seccompFd)]),
  ];
}

/** Resident memory of a process and its descendants, in bytes (0 if it is gone). */
function treeRss(pid) {
  let total = 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    for (const task of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ")) {
      if (task.trim()) total += treeRss(Number(task));
    }
  } catch {
    // The process ended while we looked.
  }
  return total;
}

/** Makes the directory of a socket about to be bound and removes a stale socket left there. */
function freshSocket(path) {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
}

export class Supervisor {
  #distDir;
  #workerd;
  #sockDir;
  #namespaces;
  /** Namespaces only: workerd and its shared libraries, and the seccomp program's file, if any. */
  #workerdFiles = [];
  #seccompFile;
  /** Namespaces only: why workerd's files could not be listed. */
  #sandboxError = "";
  #maxRss;
  #runners = [];
  #control;
  #server;
  #stopping = false;
  #watch;
  #log;

  constructor({ distDir, workerd, sockDir, namespaces, maxRssBytes, log }) {
    this.#distDir = distDir;
    this.#workerd = workerd;
    this.#sockDir = sockDir;
    this.#namespaces = namespaces;
    this.#maxRss = maxRssBytes;
    this.#log = log;
    if (namespaces) {
      // Runners bind the control plane's socket directory before the control plane starts.
      mkdirSync(dirname(controlSocket(sockDir)), { recursive: true });
      const program = seccompProgram();
      if (program) {
        this.#seccompFile = join(sockDir, "seccomp.bpf");
        writeFileSync(this.#seccompFile, program);
      }
      try {
        this.#workerdFiles = executableFiles(workerd);
      } catch (error) {
        this.#sandboxError = error.message;
      }
    }
  }

  /** Why workerd cannot run in the runner sandbox on this host, or "" when it can. */
  sandboxProblem() {
    if (this.#sandboxError) return this.#sandboxError;
    const result = this.#sandboxed(["--version"], {}, (command, args, seccompFd) =>
      spawnSync(command, args, {
        stdio: ["ignore", "pipe", "pipe", seccompFd],
        encoding: "utf8",
        env: {},
        timeout: 10_000,
      }),
    );
    if (result.status === 0) return "";
    return (result.stderr || result.error?.message || `exit status ${result.status}`).trim();
  }

  /** Serves the control plane's restart requests on `supervisor.sock`. */
  async listen() {
    this.#server = createServer((req, res) => {
      const match = /^\/runners\/(\d+)\/restart$/.exec(req.url ?? "");
      const runner = match ? this.#runners[Number(match[1])] : undefined;
      if (req.method !== "POST" || !runner) {
        res.writeHead(404).end();
        return;
      }
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        this.#kill(runner, `hung past the deadline of execution ${body.slice(0, 64)}`);
        res.writeHead(204).end();
      });
    });
    await new Promise((resolve) =>
      this.#server.listen(join(this.#sockDir, "supervisor.sock"), resolve),
    );
  }

  /** Starts runner `index` from `config`. */
  startRunner(index, config) {
    const runner = { index, config, child: undefined, reason: "" };
    this.#runners[index] = runner;
    this.#spawnRunner(runner);
  }

  /** Starts the control plane from `config`; resolves with an exit code once it has exited for good. */
  startControlPlane(config) {
    return new Promise((resolve) => {
      let quickExits = 0;
      const start = () => {
        const started = Date.now();
        freshSocket(controlSocket(this.#sockDir));
        // CORDON_INSPECT=host:port opens the V8 inspector on the control plane (bench/profile.mjs).
        const inspect = process.env.CORDON_INSPECT
          ? [`--inspector-addr=${process.env.CORDON_INSPECT}`]
          : [];
        // A supervisor killed outright (SIGKILL) takes its control plane with it.
        this.#control = spawn(
          ...dyingWithParent(this.#workerd, [
            "serve",
            "--experimental",
            "--verbose",
            ...inspect,
            config,
          ]),
          { stdio: ["ignore", "inherit", "inherit"] },
        );
        this.#control.on("exit", (code) => {
          if (this.#stopping) return resolve(0);
          // A control plane that cannot even start (a port in use, a bad config) is not retried forever.
          quickExits = Date.now() - started < 3000 ? quickExits + 1 : 0;
          if (quickExits >= 3) {
            this.#log("control plane keeps failing at start; giving up");
            return resolve(1);
          }
          this.#log(`control plane exited (${code}); restarting it`);
          setTimeout(start, 200);
        });
      };
      start();
    });
  }

  /** Kills runners that grow past the memory ceiling. */
  watchMemory(intervalMs = 200) {
    this.#watch = setInterval(() => {
      for (const runner of this.#runners) {
        const pid = runner?.child?.pid;
        if (pid && treeRss(pid) > this.#maxRss) {
          this.#kill(runner, `used more than ${Math.round(this.#maxRss / 2 ** 20)} MiB`);
        }
      }
    }, intervalMs);
  }

  /** Stops every process; resolves when they have exited. */
  async stop() {
    this.#stopping = true;
    clearInterval(this.#watch);
    const children = [this.#control, ...this.#runners.map((r) => r?.child)].filter(Boolean);
    await Promise.all(
      children.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", resolve);
            child.kill("SIGTERM");
            setTimeout(() => child.kill("SIGKILL"), 5000).unref();
          }),
      ),
    );
    this.#server?.close();
    rmSync(this.#sockDir, { recursive: true, force: true });
  }

  /**
   * Calls `run` with bwrap's command line for `workerd ...args` in the runner sandbox, plus
   * `readOnly` and `writable` paths, and the seccomp program's file descriptor (for fd 3).
   */
  #sandboxed(args, { readOnly = [], writable = [] }, run) {
    const seccompFd = this.#seccompFile ? openSync(this.#seccompFile, "r") : "ignore";
    try {
      const sandbox = sandboxArgs({
        executable: this.#workerdFiles,
        // The control plane's socket directory, so that a restarted control plane's new socket shows.
        readOnly: [this.#distDir, dirname(controlSocket(this.#sockDir)), ...readOnly],
        writable,
        env: RUNNER_ENV,
        seccompFd: typeof seccompFd === "number" ? 3 : undefined,
      });
      return run(BWRAP, [...sandbox, this.#workerd, ...args], seccompFd);
    } finally {
      if (typeof seccompFd === "number") closeSync(seccompFd);
    }
  }

  #spawnRunner(runner) {
    const socket = runnerSocket(this.#sockDir, runner.index);
    freshSocket(socket);
    // CORDON_INSPECT_RUNNER=host:port opens the V8 inspector on runner 0 (bench/profile.mjs); a
    // runner in its own network namespace cannot be reached, so it needs CORDON_ISOLATION=process.
    const inspect =
      process.env.CORDON_INSPECT_RUNNER && runner.index === 0
        ? [`--inspector-addr=${process.env.CORDON_INSPECT_RUNNER}`]
        : [];
    const args = ["serve", "--experimental", "--verbose", ...inspect, runner.config];
    const child = this.#namespaces
      ? this.#sandboxed(
          args,
          { readOnly: [runner.config], writable: [dirname(socket)] },
          (command, argv, seccompFd) =>
            // bwrap stays in the sandbox as its pid 1: it gets none of the environment either.
            spawn(command, argv, {
              stdio: ["ignore", "inherit", "inherit", seccompFd],
              detached: true,
              env: {},
            }),
        )
      : spawn(...dyingWithParent(this.#workerd, args), {
          stdio: ["ignore", "inherit", "inherit"],
          detached: true,
          env: RUNNER_ENV,
        });
    runner.child = child;
    child.on("exit", (code, signal) => {
      if (this.#stopping) return;
      const why = runner.reason || `exited (${signal ?? code})`;
      runner.reason = "";
      this.#log(`runner ${runner.index} ${why}; restarting it`);
      this.#spawnRunner(runner);
    });
  }

  #kill(runner, reason) {
    const child = runner.child;
    if (!child || child.exitCode !== null || child.signalCode !== null || runner.reason) return;
    runner.reason = reason;
    try {
      // The runner leads its own process group: take bwrap and workerd down together.
      process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }
}
