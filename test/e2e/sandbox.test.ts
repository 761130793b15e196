// The runner sandbox: what a runner process could read or do if hostile code escaped V8 inside
// it, seen from outside through /proc/<runner pid>, and probes run under the same bwrap
// arguments (node is not in a runner's sandbox, so each probe binds its own executable).
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: plain ESM JavaScript without type declarations.
import { CHECKED_SYSCALLS, DENIED_SYSCALLS, seccompProgram } from "../../host/seccomp.mjs";
// @ts-expect-error: plain ESM JavaScript without type declarations.
import { executableFiles, namespacesAvailable, sandboxArgs } from "../../host/supervisor.mjs";
import { E2E_KEY, type Server, startServer } from "./server";

const ADMIN = "e2e-admin-token-sandbox-0123456789";
const PROJECT = process.cwd();
const ARCH = process.arch === "x64" || process.arch === "arm64" ? process.arch : undefined;
type Syscalls = Record<string, Record<string, number | null>>;
const syscalls = CHECKED_SYSCALLS as Record<"clone" | "clone3", Record<string, number>>;
/** perl-base is essential on Debian: its `syscall` makes any raw system call. */
const PERL = "/usr/bin/perl";

let server: Server;

describe.runIf(namespacesAvailable())("the runner sandbox", () => {
  beforeAll(async () => {
    server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN });
    // Runners start alongside the control plane; a few fresh executions make sure they are up.
    await Promise.all(
      [1, 2, 3, 4].map((n) => server.execute({ code: `${n} + 1 // ${Date.now()}` })),
    );
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it("reports namespaces and names its layers in /healthz", async () => {
    const health = (await (await fetch(`${server.url}/healthz`)).json()) as {
      isolation: string;
      sandbox: string[];
    };
    expect(health.isolation).toBe("namespaces");
    expect(health.sandbox).toEqual(
      expect.arrayContaining(["namespaces", "no-network", "minimal-filesystem", "no-capabilities"]),
    );
    if (ARCH) expect(health.sandbox).toContain("seccomp");
  });

  it("shows a runner none of the host's files: no /etc, /root, /home, data, project or sibling sockets", async () => {
    const pids = await runnerPids();
    const siblingSockets = readdirSync(sockDirOf(pids[0] ?? ""), { recursive: true })
      .map(String)
      .filter((name) => name.endsWith(".sock") || name.endsWith(".capnp"));
    for (const pid of pids) {
      const root = `/proc/${pid}/root`;
      for (const path of [
        "/etc/passwd",
        "/etc/hostname",
        "/root",
        "/home",
        "/usr/bin",
        server.dataDir,
        join(PROJECT, ".git"),
        join(PROJECT, "package.json"),
        join(PROJECT, "node_modules/workerd/package.json"),
      ]) {
        expect(exists(join(root, path)), `${path} in runner ${pid}`).toBe(false);
      }
      // Of the socket directory a runner sees its own socket and config and the control plane's
      // egress socket; not the control plane's config, the supervisor, nor another runner.
      const own = configOf(pid);
      const visible = siblingSockets
        .map((name) => join(sockDirOf(pid), name))
        .filter((path) => exists(join(root, path)));
      expect(visible.sort()).toEqual(
        [own, ownSocketOf(pid), join(sockDirOf(pid), "egress/control.sock")].sort(),
      );
    }
  });

  it("gives a runner only workerd, its shared libraries, the bundle, its config and sockets", async () => {
    for (const pid of await runnerPids()) {
      const root = `/proc/${pid}/root`;
      const workerd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
      const allowed = (path: string) =>
        path === workerd ||
        path === configOf(pid) ||
        path.startsWith(join(PROJECT, "dist/")) ||
        /\/lib[\w+.-]*\.so(\.\d+)*$|^\/lib64\/ld-linux[\w.-]*\.so\.\d+$/.test(path) ||
        path.endsWith(".sock");
      const files = visibleFiles(root);
      expect(files).toContain(workerd);
      expect(files.filter((path) => !allowed(path)).slice(0, 20)).toEqual([]);
    }
  });

  it("runs runners without capabilities, under a seccomp filter, with no host environment", async () => {
    for (const pid of await runnerPids()) {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, "m").exec(status)?.[1];
      for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) {
        expect(BigInt(`0x${field(set)}`), `${set} of runner ${pid}`).toBe(0n);
      }
      expect(field("NoNewPrivs")).toBe("1");
      if (ARCH) expect(field("Seccomp")).toBe("2");
      // bwrap stays in the sandbox as the runner's parent (its pid 1): it must hold nothing either.
      for (const member of [pid, parentOf(pid)]) {
        const environment = readFileSync(`/proc/${member}/environ`, "utf8");
        expect(environment).not.toContain(E2E_KEY);
        expect(environment).not.toContain(ADMIN);
        expect(environment).not.toContain(PROJECT);
      }
    }
  });

  it("runs runners in their own network namespace with nothing but loopback, and a read-only root", async () => {
    for (const pid of await runnerPids()) {
      expect(readlinkSync(`/proc/${pid}/ns/net`)).not.toBe(readlinkSync("/proc/self/ns/net"));
      const interfaces = readFileSync(`/proc/${pid}/net/dev`, "utf8")
        .split("\n")
        .slice(2)
        .map((line) => line.split(":")[0]?.trim())
        .filter(Boolean);
      expect(interfaces).toEqual(["lo"]);
      const root = readFileSync(`/proc/${pid}/mountinfo`, "utf8")
        .split("\n")
        .find((line) => line.split(" ")[4] === "/");
      expect(root?.split(" ")[5]?.split(",")).toContain("ro");
    }
  });

  it("gives a sandboxed process no route to the host's network and no writable path but its own", async () => {
    const listener = createServer((socket) => socket.end("reached"));
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    const address = listener.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const scratch = mkdtempSync(join(tmpdir(), "cordon-sandbox-"));
    const write = (path: string) =>
      `try { fs.writeFileSync(${JSON.stringify(path)}, "x"); out[${JSON.stringify(path)}] = "written" } catch (e) { out[${JSON.stringify(path)}] = e.code }`;
    const probe = `
      const net = require("node:net"), fs = require("node:fs");
      const out = {};
      ${write(join(server.dataDir, "sandbox-probe.txt"))}
      ${write(join(dirname(process.execPath), "sandbox-probe.txt"))}
      ${write("/sandbox-probe.txt")}
      ${write(join(dirname(scratch), "sandbox-probe.txt"))}
      ${write(join(scratch, "ok.txt"))}
      const s = net.connect(${port}, "127.0.0.1");
      s.setTimeout(2000, () => { out.net = "timeout"; console.log(JSON.stringify(out)); process.exit(0) });
      s.on("data", () => { out.net = "reached"; console.log(JSON.stringify(out)); process.exit(0) });
      s.on("error", (e) => { out.net = e.code; console.log(JSON.stringify(out)); process.exit(0) });`;
    const result = runSandboxed(process.execPath, ["-e", probe], [scratch]);
    listener.close();
    rmSync(scratch, { recursive: true, force: true });
    expect(JSON.parse(result.stdout)).toEqual({
      [join(server.dataDir, "sandbox-probe.txt")]: "ENOENT",
      [join(dirname(process.execPath), "sandbox-probe.txt")]: "EROFS",
      "/sandbox-probe.txt": "EROFS",
      [join(dirname(scratch), "sandbox-probe.txt")]: "EROFS",
      [join(scratch, "ok.txt")]: "written",
      net: "ECONNREFUSED",
    });
  });

  it.runIf(ARCH && existsSync(PERL))(
    "refuses a sandboxed process the system calls workerd never makes, with EPERM",
    () => {
      const denied = Object.entries(DENIED_SYSCALLS as Syscalls)
        .map(([name, numbers]) => [name, numbers[ARCH ?? ""]] as const)
        .filter((entry): entry is readonly [string, number] => typeof entry[1] === "number");
      // Zero arguments: without the filter these calls fail for want of a capability or do
      // nothing, so the probe harms nothing even where the filter is missing.
      const calls = denied.map(([name, nr]) => `call("${name}", ${nr}, 0, 0, 0, 0, 0);`).join("\n");
      const probe = `
        sub call { my ($name, $nr, @args) = @_; $! = 0; my $r = syscall($nr, @args);
          exit 0 if $r == 0 && $name eq "clone_newuser";  # a child in a new user namespace
          print "$name ", ($r == -1 ? $! + 0 : "ok"), "\n" }
        ${calls}
        call("getpid", ${ARCH === "x64" ? 39 : 172});
        call("clone3", ${syscalls.clone3[ARCH ?? ""]}, 0, 0);
        call("clone_newuser", ${syscalls.clone[ARCH ?? ""]}, 0x10000000 | 17, 0, 0, 0, 0);
        ${ARCH === "x64" ? 'call("x32_getpid", 0x40000000 | 39);' : ""}
        my $pid = fork(); exit 0 if $pid == 0; waitpid($pid, 0); print "fork ", ($pid > 0 ? "ok" : $! + 0), "\n";`;
      const result = runSandboxed(PERL, ["-e", probe]);
      const answers = Object.fromEntries(
        result.stdout
          .trim()
          .split("\n")
          .map((line) => line.split(" ")),
      );
      const EPERM = "1";
      expect(answers).toEqual({
        ...Object.fromEntries(denied.map(([name]) => [name, EPERM])),
        getpid: "ok",
        clone3: "38", // ENOSYS: glibc falls back to clone, whose flags the filter checks
        clone_newuser: EPERM,
        ...(ARCH === "x64" ? { x32_getpid: EPERM } : {}),
        fork: "ok",
      });
    },
  );
});

/**
 * Runs `executable` under the runner's bwrap arguments and seccomp filter, with its own files
 * bound instead of workerd's and `writable` directories.
 */
function runSandboxed(executable: string, args: string[], writable: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "cordon-seccomp-"));
  const program = seccompProgram() as Buffer | undefined;
  const file = join(dir, "filter.bpf");
  if (program) writeFileSync(file, program);
  const fd = program ? openSync(file, "r") : undefined;
  try {
    const sandbox = sandboxArgs({
      executable: executableFiles(executable),
      writable,
      seccompFd: fd === undefined ? undefined : 3,
    }) as string[];
    const result = spawnSync("bwrap", [...sandbox, executable, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe", fd ?? "ignore"],
      timeout: 10_000,
    });
    expect(result.stderr).toBe("");
    return result;
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Every non-directory path a process sees under `root` (its /proc and /dev left out). */
function visibleFiles(root: string): string[] {
  const files: string[] = [];
  const pending = ["/"];
  // The whole host would be far more than this: stop early instead of walking it.
  for (let seen = 0; pending.length > 0 && seen < 20_000; seen++) {
    const dir = pending.pop() ?? "/";
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (path === "/proc" || path === "/dev") continue;
      if (entry.isDirectory()) pending.push(path);
      else files.push(path);
    }
  }
  if (pending.length > 0) files.push("(more than 20,000 directories)");
  return files;
}

function cmdline(pid: string): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
}

function configOf(pid: string): string {
  return cmdline(pid).find((arg) => /runner-\d+\.capnp$/.test(arg)) ?? "";
}

function sockDirOf(pid: string): string {
  return configOf(pid).replace(/\/[^/]+$/, "");
}

function ownSocketOf(pid: string): string {
  const config = readFileSync(configOf(pid), "utf8");
  return /name = "http", address = "unix:([^"]+)"/.exec(config)?.[1] ?? "";
}

/** Process ids of the test server's runner workerd processes, once at least two are up. */
async function runnerPids(): Promise<string[]> {
  let pids: string[] = [];
  for (let i = 0; i < 50; i++) {
    pids = readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          const args = cmdline(pid);
          return (
            !/(^|\/)bwrap$/.test(args[0] ?? "") &&
            args.some((arg) => /runner-\d+\.capnp$/.test(arg))
          );
        } catch {
          return false;
        }
      })
      .filter((pid) => descendsFrom(Number(pid), server.pid));
    if (pids.length >= 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(pids.length).toBeGreaterThanOrEqual(2);
  return pids;
}

function parentOf(pid: string | number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function descendsFrom(pid: number, ancestor: number): boolean {
  for (let current = pid, hops = 0; current > 1 && hops < 20; hops++) {
    if (current === ancestor) return true;
    current = parentOf(current);
  }
  return false;
}

/** The kernel's syscall tables as linux-libc-dev installs them, for each architecture filtered. */
const TABLES = {
  x64: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
  arm64: "/usr/include/asm-generic/unistd.h",
};

describe("the seccomp filter's system call numbers", () => {
  for (const [arch, header] of Object.entries(TABLES)) {
    it.runIf(existsSync(header))(`are the kernel's for ${arch} (${header})`, () => {
      const defined = new Map(
        [...readFileSync(header, "utf8").matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)].map(
          (match) => [match[1], Number(match[2])],
        ),
      );
      for (const [name, numbers] of Object.entries({
        ...(DENIED_SYSCALLS as Syscalls),
        ...syscalls,
      })) {
        expect(numbers[arch], `${name} on ${arch}`).toBe(defined.get(name) ?? null);
      }
    });
  }
});
