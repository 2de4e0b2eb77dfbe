#include "workloads/catalog.h"

#include <array>
#include <cstdlib>
#include <system_error>

namespace isoscope {
namespace {

struct CatalogEntry {
  std::string_view name;
  std::string_view relative_path;  // below a workloads directory
  std::string_view description;
  std::string_view category;
};

// The one table of built-in workloads. Keep in step with
// workloads/CMakeLists.txt and workloads/README.md.
constexpr std::array kCatalog = {
    CatalogEntry{"startup", "bench/startup", "exits 0 at once, no output",
                 "bench"},
    CatalogEntry{"hello", "bench/hello",
                 "prints a greeting, exits with [CODE] (default 0)", "bench"},
    CatalogEntry{"syscall-storm", "bench/syscall-storm",
                 "[N] getppid calls (default 100000)", "bench"},
    CatalogEntry{"file-io", "bench/file-io",
                 "writes, fsyncs, reads back [N] 4 KiB blocks in the cwd",
                 "bench"},
    CatalogEntry{"mmap-touch", "bench/mmap-touch",
                 "maps and touches [N] anonymous pages (default 1024)",
                 "bench"},
    CatalogEntry{"compute", "bench/compute",
                 "[N] rounds of integer hashing, no syscalls (default 1e6)",
                 "bench"},
    CatalogEntry{"fork-exec", "bench/fork-exec",
                 "[N] fork + execve(startup) + wait4 (default 10)", "bench"},
    CatalogEntry{"probes/int80", "probes/int80",
                 "i386 getpid through int 0x80 (filter bypass)",
                 "filter bypass"},
    CatalogEntry{"probes/x32", "probes/x32",
                 "getpid with the x32 bit set (filter bypass)",
                 "filter bypass"},
    CatalogEntry{"probes/bad-syscall-nr", "probes/bad-syscall-nr",
                 "syscall number 1000 (unknown to the kernel)",
                 "filter bypass"},
    CatalogEntry{"probes/userns", "probes/userns",
                 "unshare(CLONE_NEWUSER) in a child", "privileged call"},
    CatalogEntry{"probes/mount-tmpfs", "probes/mount-tmpfs",
                 "mount a tmpfs on a nonexistent directory", "privileged call"},
    CatalogEntry{"probes/reboot", "probes/reboot", "reboot with a bad magic",
                 "privileged call"},
    CatalogEntry{"probes/kexec-load", "probes/kexec-load",
                 "kexec_load with too many segments", "privileged call"},
    CatalogEntry{"probes/finit-module", "probes/finit-module",
                 "finit_module on fd -1", "privileged call"},
    CatalogEntry{"probes/umount", "probes/umount", "umount2(NULL)",
                 "privileged call"},
    CatalogEntry{"probes/settimeofday", "probes/settimeofday",
                 "settimeofday(NULL, NULL), which changes nothing",
                 "privileged call"},
    CatalogEntry{"probes/perf-event-open", "probes/perf-event-open",
                 "perf_event_open with a NULL attr", "privileged call"},
    CatalogEntry{"probes/bpf", "probes/bpf", "bpf with an invalid command",
                 "privileged call"},
    CatalogEntry{"probes/userfaultfd", "probes/userfaultfd",
                 "userfaultfd(O_CLOEXEC), closed at once", "privileged call"},
    CatalogEntry{"probes/dev-kmsg", "probes/dev-kmsg",
                 "open /dev/kmsg read-only", "privileged call"},
    CatalogEntry{"probes/dev-mem", "probes/dev-mem", "open /dev/mem read-only",
                 "privileged call"},
    CatalogEntry{"probes/core-pattern", "probes/core-pattern",
                 "open /proc/sys/kernel/core_pattern for writing, never write",
                 "privileged call"},
    CatalogEntry{"probes/mknod", "probes/mknod",
                 "mknod a char device 1:3 in the cwd, removed at once",
                 "privileged call"},
    CatalogEntry{"probes/open-by-handle", "probes/open-by-handle",
                 "open_by_handle_at with a NULL handle", "privileged call"},
    CatalogEntry{"probes/sethostname", "probes/sethostname",
                 "sethostname to the current name", "privileged call"},
    CatalogEntry{"probes/no-new-privs", "probes/no-new-privs",
                 "the no_new_privs state and the uid", "privileged call"},
    CatalogEntry{"probes/tracer-pid", "probes/tracer-pid",
                 "TracerPid in /proc/self/status (detection)", "detection"},
    CatalogEntry{"probes/seccomp-mode", "probes/seccomp-mode",
                 "Seccomp in /proc/self/status (detection)", "detection"},
    CatalogEntry{"probes/pid1", "probes/pid1", "is the workload PID 1",
                 "detection"},
    CatalogEntry{"probes/fault-map", "probes/fault-map",
                 "one instruction per CASE argument: which faults reach whom",
                 "faults"},
    CatalogEntry{"probes/secret-file", "probes/secret-file",
                 "read the canary secret file ($ISOSCOPE_CANARY_SECRET)",
                 "canary"},
    CatalogEntry{"probes/loopback-connect", "probes/loopback-connect",
                 "connect to the canary listener on 127.0.0.1 "
                 "($ISOSCOPE_CANARY_TCP_PORT)",
                 "canary"},
    CatalogEntry{"probes/abstract-socket", "probes/abstract-socket",
                 "connect to the canary abstract unix socket "
                 "($ISOSCOPE_CANARY_ABSTRACT)",
                 "canary"},
    CatalogEntry{
        "probes/signal-canary", "probes/signal-canary",
        "signal 0, then SIGUSR1, to the canary process ($ISOSCOPE_CANARY_PID)",
        "canary"},
    CatalogEntry{"probes/ptrace-canary", "probes/ptrace-canary",
                 "PTRACE_SEIZE the canary process, detached by exiting",
                 "canary"},
    CatalogEntry{
        "probes/sysv-shm", "probes/sysv-shm",
        "attach the canary SysV segment read-only ($ISOSCOPE_CANARY_SHM_KEY)",
        "canary"},
    CatalogEntry{"probes/kill-supervisor", "probes/kill-supervisor",
                 "signal 0 to the supervisor ($ISOSCOPE_SUPERVISOR_PID), never "
                 "a real signal",
                 "canary"},
    CatalogEntry{"probes/ptrace-supervisor", "probes/ptrace-supervisor",
                 "PTRACE_SEIZE the supervisor, detached by exiting", "canary"},
    CatalogEntry{
        "probes/proc-self-mem", "probes/proc-self-mem",
        "write one byte of its own memory, unchanged, via /proc/self/mem",
        "supervisor tampering"},
    CatalogEntry{
        "probes/process-vm-writev", "probes/process-vm-writev",
        "write one byte of its own memory, unchanged, with process_vm_writev",
        "supervisor tampering"},
    CatalogEntry{"probes/pivot-root", "probes/pivot-root",
                 "pivot_root(\"\", \"\"): past the capability check?",
                 "privileged call"},
    CatalogEntry{"probes/chroot-escape", "probes/chroot-escape",
                 "chroot into a scratch dir, climb out with chdir(\"..\")",
                 "privileged call"},
    CatalogEntry{"probes/setns-host", "probes/setns-host",
                 "open /proc/1/ns/mnt, setns with a mismatched type",
                 "privileged call"},
    CatalogEntry{"probes/raw-socket", "probes/raw-socket",
                 "an AF_INET raw ICMP socket, closed at once",
                 "privileged call"},
    CatalogEntry{"probes/proc-list", "probes/proc-list",
                 "count the pids in /proc other than its own and 1",
                 "host secrets"},
    CatalogEntry{"probes/magic-links", "probes/magic-links",
                 "CASE: read the secret through /proc magic links and "
                 "symlinks in the workdir",
                 "magic links"},
    CatalogEntry{"probes/inherited-fds", "probes/inherited-fds",
                 "use every descriptor above 2 open at start (the runner "
                 "passes the secret and its directory)",
                 "inherited descriptors"},
    CatalogEntry{"probes/checked-arg", "probes/checked-arg",
                 "CASE: rewrite an opened path between the allowed file and "
                 "the secret for 1 s (thread, shared mapping, /proc/self/mem, "
                 "process_vm_writev)",
                 "checked argument"},
    CatalogEntry{"probes/identity", "probes/identity",
                 "CASE: its uid, gid and capabilities; setuid(0), capset; "
                 "signal 0 to the canary and the supervisor it finds",
                 "identity"},
    CatalogEntry{"probes/network", "probes/network",
                 "CASE: reach the loopback and the non-loopback canary "
                 "listeners (connect, IPv4-mapped IPv6, TCP fast open)",
                 "network"},
    CatalogEntry{"probes/pathless-open", "probes/pathless-open",
                 "CASE: open the secret with io_uring or a file handle",
                 "pathless open"},
    CatalogEntry{"probes/ns-flags", "probes/ns-flags",
                 "CASE: namespaces through clone, clone3, unshare, setns",
                 "namespace flags"},
    CatalogEntry{"probes/checked-call", "probes/checked-call",
                 "CASE: O_PATH, EMFILE, over-long paths, wild pointers, FIFO "
                 "opens: answered, never a supervisor failure",
                 "checked-call corner cases"},
    CatalogEntry{"probes/hostname", "probes/hostname",
                 "the nodename uname reports (detection)", "detection"},
    CatalogEntry{"probes/cpuid-hypervisor", "probes/cpuid-hypervisor",
                 "CPUID hypervisor bit and vendor leaf (detection)",
                 "detection"},
    CatalogEntry{"probes/sensitive", "probes/sensitive",
                 "CASE: one sensitive but unprivileged instruction (popf, "
                 "sgdt, smsw, lar, rdpid, cpuid, ...): what the workload sees",
                 "sensitive instructions"},
    CatalogEntry{"probes/syscall-latency", "probes/syscall-latency",
                 "ns per getppid over 10000 calls (detection)", "detection"},
    CatalogEntry{"probes/cgroup-path", "probes/cgroup-path",
                 "the cgroup path in /proc/self/cgroup (detection)",
                 "detection"},
    CatalogEntry{"probes/fork-bomb", "probes/fork-bomb",
                 "noisy: up to 200 forks, all killed and reaped", "resources"},
    CatalogEntry{"probes/memory-bomb", "probes/memory-bomb",
                 "noisy: map and touch 16 MiB chunks up to 2 GiB", "resources"},
    CatalogEntry{"probes/disk-fill", "probes/disk-fill",
                 "noisy: write 1 MiB blocks in the cwd up to 256 MiB, removed",
                 "resources"},
    CatalogEntry{"probes/cpu-spin", "probes/cpu-spin",
                 "noisy: spin for 3 s of CPU time (gives up after 30 s)",
                 "resources"},
};

const CatalogEntry* FindEntry(std::string_view name) {
  for (const CatalogEntry& entry : kCatalog) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

std::vector<std::filesystem::path> SearchDirectories() {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("ISOSCOPE_WORKLOADS_DIR");
      env != nullptr && env[0] != '\0') {
    dirs.emplace_back(env);
  }
  std::error_code ec;
  std::filesystem::path exe =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path exe_dir = exe.parent_path();
    dirs.push_back(exe_dir / "workloads");
    dirs.push_back(exe_dir / ".." / "libexec" / "isoscope" / "workloads");
  }
  return dirs;
}

bool IsExecutableFile(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::file_status status = std::filesystem::status(path, ec);
  constexpr auto kAnyExec = std::filesystem::perms::owner_exec |
                            std::filesystem::perms::group_exec |
                            std::filesystem::perms::others_exec;
  return !ec && std::filesystem::is_regular_file(status) &&
         (status.permissions() & kAnyExec) != std::filesystem::perms::none;
}

}  // namespace

std::optional<std::filesystem::path> FindBuiltinWorkload(
    std::string_view name) {
  const CatalogEntry* entry = FindEntry(name);
  if (entry == nullptr) return std::nullopt;
  for (const std::filesystem::path& dir : SearchDirectories()) {
    std::filesystem::path candidate = dir / entry->relative_path;
    if (IsExecutableFile(candidate)) return candidate.lexically_normal();
  }
  return std::nullopt;
}

bool IsBuiltinWorkloadProgram(const std::filesystem::path& program) {
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(program, ec);
  if (ec) return false;
  // Only an entry whose program has the name `program` was called by, or
  // the name it resolves to, can be it: the others are not even looked up
  // (each costs a search of the workload directories, and this runs at
  // every `isoscope run`).
  const std::filesystem::path given = program.filename();
  const std::filesystem::path resolved = real.filename();
  for (const CatalogEntry& entry : kCatalog) {
    const std::filesystem::path name =
        std::filesystem::path(entry.relative_path).filename();
    if (name != given && name != resolved) continue;
    std::optional<std::filesystem::path> found =
        FindBuiltinWorkload(entry.name);
    std::error_code same_ec;
    if (found && std::filesystem::equivalent(real, *found, same_ec)) {
      return true;
    }
  }
  return false;
}

std::vector<BuiltinWorkload> ListBuiltinWorkloads() {
  std::vector<BuiltinWorkload> found;
  for (const CatalogEntry& entry : kCatalog) {
    if (std::optional<std::filesystem::path> path =
            FindBuiltinWorkload(entry.name)) {
      found.push_back(BuiltinWorkload{std::string(entry.name),
                                      std::string(entry.description), *path,
                                      std::string(entry.category)});
    }
  }
  return found;
}

}  // namespace isoscope
