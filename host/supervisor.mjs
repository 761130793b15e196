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
  readSync,
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

/** Closes the `statm` files of a runner's process tree. */
function closeTree(tree) {
  for (const fd of tree?.fds ?? []) {
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  }
}

/** A process and its descendants (bwrap, its pid-namespace init, workerd). */
function processTree(pid) {
  const pids = [pid];
  try {
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").split(" ")) {
      if (child.trim()) pids.push(...processTree(Number(child)));
    }
  } catch {
    // The process ended while we looked.
  }
  return pids;
}

const PAGE_BYTES = 4096;
const statm = Buffer.alloc(256);

/**
 * Resident memory, in bytes, of processes whose `/proc/<pid>/statm` files are open as `fds`:
 * read again from the start, such a file answers afresh, which costs a fifth of opening it.
 */
function residentBytes(fds) {
  let total = 0;
  for (const fd of fds) {
    const length = readSync(fd, statm, 0, statm.length, 0);
    total += Number(statm.toString("latin1", 0, length).split(" ", 2)[1]) * PAGE_BYTES;
  }
  return total;
}

/** Makes the directory of a socket about to be bound and removes a stale socket left there. */
function freshSocket(path) {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
}

/**
 * Resident memory samples of one runner process: what the control plane measures an execution's
 * memory against (the least a runner used since the execution started, and what it uses now).
 */
class MemoryHistory {
  #times = [];
  #bytes = [];

  add(at, bytes) {
    this.#times.push(at);
    this.#bytes.push(bytes);
    // Runs last at most 300 s: older samples can no longer be asked for.
    if (this.#times[0] < at - HISTORY_MS) {
      const keep = this.#times.findIndex((t) => t >= at - HISTORY_MS);
      this.#times.splice(0, keep);
      this.#bytes.splice(0, keep);
    }
  }

  /** The least resident memory sampled at or after `since`, and `now` itself. */
  leastSince(since, now) {
    let least = now;
    for (let i = this.#times.length - 1; i >= 0 && this.#times[i] >= since; i--) {
      least = Math.min(least, this.#bytes[i]);
    }
    return least;
  }

  clear() {
    this.#times = [];
    this.#bytes = [];
  }
}

const HISTORY_MS = 310_000;
/** How often each runner's resident memory is sampled. */
const SAMPLE_MS = 50;

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
  /** More paths a runner may read (the operator's Python packages). */
  #readOnly;
  #runners = [];
  #control;
  #server;
  #stopping = false;
  #watch;
  #log;

  constructor({ distDir, workerd, sockDir, namespaces, maxRssBytes, log, readOnly = [] }) {
    this.#distDir = distDir;
    this.#readOnly = readOnly;
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

  /**
   * Serves the control plane on `supervisor.sock`: `POST /runners/i/restart` (the body says why;
   * answered once the process has exited), `GET /runners/i/memory?since=ms` (resident bytes now
   * and the least since then) and `GET /runners/i/exit` (the last exit and its reason).
   */
  async listen() {
    this.#server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://supervisor");
      const match = /^\/runners\/(\d+)\/(restart|memory|exit)$/.exec(url.pathname);
      const runner = match ? this.#runners[Number(match[1])] : undefined;
      const json = (value) =>
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(value));
      if (!runner) {
        res.writeHead(404).end();
      } else if (req.method === "GET" && match[2] === "memory") {
        const now = this.#resident(runner);
        const since = Number(url.searchParams.get("since") ?? Date.now());
        json(now === undefined ? null : { rss: now, least: runner.memory.leastSince(since, now) });
      } else if (req.method === "GET" && match[2] === "exit") {
        json(runner.exit ?? null);
      } else if (req.method === "POST" && match[2] === "restart") {
        let body = "";
        req.on("data", (chunk) => {
          body += chunk;
        });
        req.on("end", () => {
          const child = runner.child;
          this.#kill(runner, body.slice(0, 300) || "restarted by the control plane");
          const answer = () => res.writeHead(204).end();
          if (!child || child.exitCode !== null || child.signalCode !== null) return answer();
          // The control plane sends no run to this runner until the old process is gone.
          const timer = setTimeout(answer, 2000);
          child.once("exit", () => {
            clearTimeout(timer);
            answer();
          });
        });
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise((resolve) =>
      this.#server.listen(join(this.#sockDir, "supervisor.sock"), resolve),
    );
  }

  /** Starts runner `index` from `config`. */
  startRunner(index, config) {
    const runner = {
      index,
      config,
      child: undefined,
      reason: "",
      overMemory: false,
      memory: new MemoryHistory(),
      /** The runner's processes, looked up again now and then: `{ pid, at, pids, fds }`. */
      tree: undefined,
      /** The last exit: `{ at, reason, memory }` (`memory` when it was over the ceiling). */
      exit: undefined,
    };
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

  /**
   * Samples each runner's resident memory (the control plane holds executions to their own
   * limits against these samples) and kills a runner past the ceiling of the whole process.
   */
  watchMemory(intervalMs = SAMPLE_MS) {
    this.#watch = setInterval(() => {
      const now = Date.now();
      for (const runner of this.#runners) {
        const rss = runner ? this.#resident(runner) : undefined;
        if (rss === undefined) continue;
        runner.memory.add(now, rss);
        if (rss > this.#maxRss) {
          this.#kill(runner, `used more than ${Math.round(this.#maxRss / 2 ** 20)} MiB`, true);
        }
      }
    }, intervalMs);
  }

  /** Stops every process; resolves when they have exited. */
  async stop() {
    this.#stopping = true;
    clearInterval(this.#watch);
    for (const runner of this.#runners) closeTree(runner?.tree);
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
        readOnly: [
          this.#distDir,
          dirname(controlSocket(this.#sockDir)),
          ...this.#readOnly,
          ...readOnly,
        ],
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
    runner.memory.clear();
    child.on("exit", (code, signal) => {
      if (this.#stopping) return;
      const why = runner.reason || `exited (${signal ?? code})`;
      runner.exit = { at: Date.now(), reason: why, memory: runner.overMemory === true };
      runner.reason = "";
      runner.overMemory = false;
      this.#log(`runner ${runner.index} ${why}; restarting it`);
      this.#spawnRunner(runner);
    });
  }

  /**
   * A runner's resident memory, its whole process tree. The tree is looked up again once a
   * second (it only changes when the runner restarts), and its `statm` files are kept open:
   * opening and walking cost most of a sample, which runs 20 times a second per runner.
   */
  #resident(runner, again = true) {
    const pid = runner.child?.pid;
    if (!pid) return undefined;
    const now = Date.now();
    if (runner.tree?.pid !== pid || now - runner.tree.at > 1000) {
      const pids = processTree(pid);
      if (runner.tree?.pids.join() !== pids.join()) {
        closeTree(runner.tree);
        const fds = [];
        for (const each of pids) {
          try {
            fds.push(openSync(`/proc/${each}/statm`, "r"));
          } catch {
            // The process ended while we looked.
          }
        }
        runner.tree = { pid, at: now, pids, fds };
      }
      runner.tree.at = now;
    }
    try {
      return residentBytes(runner.tree.fds);
    } catch {
      // A process of the tree ended (the runner is exiting): look the tree up again once. A
      // partial sum would read as the runner shrinking, and growth is measured from the least.
      runner.tree.at = 0;
      return again ? this.#resident(runner, false) : undefined;
    }
  }

  #kill(runner, reason, overMemory = false) {
    const child = runner.child;
    if (!child || child.exitCode !== null || child.signalCode !== null || runner.reason) return;
    runner.reason = reason;
    runner.overMemory = overMemory;
    try {
      // The runner leads its own process group: take bwrap and workerd down together.
      process.kill(-child.pid, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  }
}
