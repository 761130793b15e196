// Types of systems.mjs for the TypeScript tests that import it.

/** A running server the benchmark can drive. */
export interface BenchSystem {
  name: string;
  url: string;
  /** Headers every request to it needs (Cordon's API key). */
  headers: Record<string, string>;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

export const ROOT: string;
export const NODE: string;
export const PEERS: Record<"raw-workerd" | "isolated-vm" | "child-process", string>;
export const PYTHON_PEERS: Record<"node-pyodide" | "python3-bwrap", string>;
export const PEER_INFO: Record<string, string>;
export function freePort(): Promise<number>;
export function build(): void;
export function startCordon(options?: { egressAllow?: string[] }): Promise<BenchSystem>;
export function startPeer(name: string): Promise<BenchSystem>;
export function startUpstream(): Promise<BenchSystem>;
export function contention(): () => {
  seconds: number;
  benchCpuSeconds: number;
  otherCpuSeconds: number;
  otherShare: number;
};
export function waitForQuiet(maxSeconds: number, share?: number): Promise<boolean>;
export function workerdMemory(pid: number): {
  processes: number;
  rssMiB: number;
  pssMiB: number;
  each: { role: string; rssMiB: number }[];
};
