// The runner sandbox's seccomp filter: a classic BPF program, built here so that no native
// dependency is needed, that bwrap loads (`--seccomp FD`) just before it starts workerd. It
// refuses the system calls workerd never makes (strace of a runner under load) and that would
// widen what code escaping V8 could reach in the kernel: other processes' memory, mounts and
// namespaces, kernel modules, BPF, perf, keyrings, io_uring, userfaultfd, the clock, reboot.
import { endianness } from "node:os";

/**
 * The refused calls and their numbers: x86_64 from the kernel's arch/x86/entry/syscalls/
 * syscall_64.tbl (as in linux-libc-dev's /usr/include/x86_64-linux-gnu/asm/unistd_64.h),
 * aarch64 from the generic table include/uapi/asm-generic/unistd.h (/usr/include/asm-generic/
 * unistd.h). `null`: the call does not exist on that architecture. test/e2e/sandbox.test.ts
 * checks every number here against those headers where they are installed.
 */
export const DENIED_SYSCALLS = {
  // Other processes' memory and files.
  ptrace: { x64: 101, arm64: 117 },
  process_vm_readv: { x64: 310, arm64: 270 },
  process_vm_writev: { x64: 311, arm64: 271 },
  kcmp: { x64: 312, arm64: 272 },
  pidfd_getfd: { x64: 438, arm64: 438 },
  // Mounts and namespaces (clone with namespace flags and clone3 are handled below).
  mount: { x64: 165, arm64: 40 },
  umount2: { x64: 166, arm64: 39 },
  pivot_root: { x64: 155, arm64: 41 },
  chroot: { x64: 161, arm64: 51 },
  open_tree: { x64: 428, arm64: 428 },
  move_mount: { x64: 429, arm64: 429 },
  fsopen: { x64: 430, arm64: 430 },
  fsconfig: { x64: 431, arm64: 431 },
  fsmount: { x64: 432, arm64: 432 },
  fspick: { x64: 433, arm64: 433 },
  mount_setattr: { x64: 442, arm64: 442 },
  unshare: { x64: 272, arm64: 97 },
  setns: { x64: 308, arm64: 268 },
  name_to_handle_at: { x64: 303, arm64: 264 },
  open_by_handle_at: { x64: 304, arm64: 265 },
  // Kernel interfaces with a history of privilege escalations.
  bpf: { x64: 321, arm64: 280 },
  perf_event_open: { x64: 298, arm64: 241 },
  userfaultfd: { x64: 323, arm64: 282 },
  keyctl: { x64: 250, arm64: 219 },
  add_key: { x64: 248, arm64: 217 },
  request_key: { x64: 249, arm64: 218 },
  io_uring_setup: { x64: 425, arm64: 425 },
  io_uring_enter: { x64: 426, arm64: 426 },
  io_uring_register: { x64: 427, arm64: 427 },
  fanotify_init: { x64: 300, arm64: 262 },
  personality: { x64: 135, arm64: 92 },
  // The machine itself.
  kexec_load: { x64: 246, arm64: 104 },
  kexec_file_load: { x64: 320, arm64: 294 },
  init_module: { x64: 175, arm64: 105 },
  finit_module: { x64: 313, arm64: 273 },
  delete_module: { x64: 176, arm64: 106 },
  reboot: { x64: 169, arm64: 142 },
  swapon: { x64: 167, arm64: 224 },
  swapoff: { x64: 168, arm64: 225 },
  acct: { x64: 163, arm64: 89 },
  syslog: { x64: 103, arm64: 116 },
  settimeofday: { x64: 164, arm64: 170 },
  clock_settime: { x64: 227, arm64: 112 },
  clock_adjtime: { x64: 305, arm64: 266 },
  adjtimex: { x64: 159, arm64: 171 },
  sethostname: { x64: 170, arm64: 161 },
  setdomainname: { x64: 171, arm64: 162 },
  quotactl: { x64: 179, arm64: 60 },
  quotactl_fd: { x64: 443, arm64: 443 },
  vhangup: { x64: 153, arm64: 58 },
  iopl: { x64: 172, arm64: null },
  ioperm: { x64: 173, arm64: null },
  modify_ldt: { x64: 154, arm64: null },
};

/** The calls checked rather than refused, same sources. */
export const CHECKED_SYSCALLS = {
  clone: { x64: 56, arm64: 220 },
  clone3: { x64: 435, arm64: 435 },
};

/** AUDIT_ARCH_* of include/uapi/linux/audit.h: the ELF machine, 64-bit, little-endian. */
const AUDIT_ARCH = { x64: 0xc000003e, arm64: 0xc00000b7 };
/** x86_64's x32 ABI sets this bit in the call number (arch/x86/include/uapi/asm/unistd.h). */
const X32_SYSCALL_BIT = 0x40000000;
/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (include/uapi/linux/sched.h). */
const CLONE_NEW_NAMESPACES = 0x7e020000;

// include/uapi/linux/filter.h, include/uapi/linux/seccomp.h and asm-generic/errno*.h.
const LD_W_ABS = 0x20;
const JMP_JEQ_K = 0x15;
const JMP_JGE_K = 0x35;
const JMP_JSET_K = 0x45;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;
// struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
const NR = 0;
const ARCH = 4;
const ARG0_LOW = 16; // little-endian: the low half of args[0] comes first

/**
 * The filter for `arch` (Node's `process.arch`), as the bytes of a `struct sock_filter` array,
 * or undefined where there is no syscall table for it (the runner then runs without a filter).
 * A call of another ABI (32-bit x86 or arm, x32) is refused whole: workerd makes none, and
 * their numbers differ from the ones checked here. clone3 answers ENOSYS, as under Docker's and
 * Flatpak's filters, because its flags cannot be inspected: glibc then creates threads with
 * clone, whose flags are checked for new namespaces.
 */
export function seccompProgram(arch = process.arch) {
  const audit = AUDIT_ARCH[arch];
  // Both tables are little-endian ABIs: the arch values and the argument offset assume it.
  if (audit === undefined || endianness() !== "LE") return undefined;
  const denied = Object.values(DENIED_SYSCALLS)
    .map((numbers) => numbers[arch])
    .filter((nr) => nr !== null);
  // Jump targets are labels, resolved to relative offsets once the program is laid out.
  const program = [
    [LD_W_ABS, 0, 0, ARCH],
    [JMP_JEQ_K, 0, "deny", audit],
    [LD_W_ABS, 0, 0, NR],
    ...(arch === "x64" ? [[JMP_JGE_K, "deny", 0, X32_SYSCALL_BIT]] : []),
    ...denied.map((nr) => [JMP_JEQ_K, "deny", 0, nr]),
    [JMP_JEQ_K, "nosys", 0, CHECKED_SYSCALLS.clone3[arch]],
    [JMP_JEQ_K, 0, "allow", CHECKED_SYSCALLS.clone[arch]],
    [LD_W_ABS, 0, 0, ARG0_LOW],
    [JMP_JSET_K, "deny", 0, CLONE_NEW_NAMESPACES],
    "allow",
    [RET_K, 0, 0, RET_ALLOW],
    "deny",
    [RET_K, 0, 0, RET_ERRNO | EPERM],
    "nosys",
    [RET_K, 0, 0, RET_ERRNO | ENOSYS],
  ];
  const labels = new Map();
  const instructions = [];
  for (const item of program) {
    if (typeof item === "string") labels.set(item, instructions.length);
    else instructions.push(item);
  }
  const bytes = Buffer.alloc(instructions.length * 8);
  instructions.forEach(([code, jt, jf, k], index) => {
    const offset = (target) => (typeof target === "string" ? labels.get(target) - index - 1 : 0);
    bytes.writeUInt16LE(code, index * 8);
    bytes.writeUInt8(offset(jt), index * 8 + 2);
    bytes.writeUInt8(offset(jf), index * 8 + 3);
    bytes.writeUInt32LE(k >>> 0, index * 8 + 4);
  });
  return bytes;
}
