/* probe ns-flags CASE: creates or joins namespaces through each call that
 * takes namespace flags, in a forked child that exits at once (the probe
 * itself never changes namespace):
 *
 *   clone-newuser     clone(CLONE_NEWUSER | SIGCHLD); the new child exits
 *   clone3-newuser    clone3 with flags CLONE_NEWUSER; the new child exits
 *   clone-newnet      clone(CLONE_NEWNET | SIGCHLD), no user namespace
 *   unshare-user-mnt  unshare(CLONE_NEWUSER | CLONE_NEWNS)
 *   setns             setns(CLONE_NEWNET) into its own network namespace,
 *                     by /proc/self/ns/net, else by a pidfd of itself
 *
 * Created or joined: REACHABLE (a new user namespace opens kernel code
 * otherwise reserved to root); EPERM, EACCES, ENOSYS, EINVAL, ENOSPC, or
 * the child killed by a filter: BLOCKED. */
#include "workloads/probes/probe.h"

enum {
  SIGCHLD = 17,
  CLONE_NEWNS = 0x20000,
  CLONE_NEWUSER = 0x10000000,
  CLONE_NEWNET = 0x40000000,
};

/* clone with `flags` (no CLONE_VM: the child has its own copy of memory,
 * so returning on the same stack is safe); the child exits 0 at once.
 * Returns 0 or an errno. */
static int clone_and_reap(long flags) {
  long pid = syscall5(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) rt_exit(0);
  if (pid < 0) return (int)-pid;
  int status = 0;
  probe_wait(pid, &status);
  return 0;
}

static int run_clone_newuser(void) { return clone_and_reap(CLONE_NEWUSER); }
static int run_clone_newnet(void) { return clone_and_reap(CLONE_NEWNET); }

static int run_clone3_newuser(void) {
  struct {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
        stack_size, tls;
  } args = {CLONE_NEWUSER, 0, 0, 0, SIGCHLD, 0, 0, 0};
  long pid = syscall2(SYS_clone3, (long)&args, sizeof(args));
  if (pid == 0) rt_exit(0);
  if (pid < 0) return (int)-pid;
  int status = 0;
  probe_wait(pid, &status);
  return 0;
}

static int run_unshare(void) {
  long r = syscall1(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS);
  return r == 0 ? 0 : (int)-r;
}

static int run_setns(void) {
  long fd = syscall3(SYS_open, (long)"/proc/self/ns/net", O_RDONLY | O_CLOEXEC,
                     0);
  if (fd < 0) fd = syscall2(SYS_pidfd_open, syscall0(SYS_getpid), 0);
  if (fd < 0) return (int)-fd;
  long r = syscall2(SYS_setns, fd, CLONE_NEWNET);
  return r == 0 ? 0 : (int)-r;
}

static int case_clone_newuser(const char *id) {
  return probe_in_child(id, run_clone_newuser, "clone made a user namespace");
}
static int case_clone3_newuser(const char *id) {
  return probe_in_child(id, run_clone3_newuser,
                        "clone3 made a user namespace");
}
static int case_clone_newnet(const char *id) {
  return probe_in_child(id, run_clone_newnet,
                        "clone made a network namespace");
}
static int case_unshare(const char *id) {
  return probe_in_child(id, run_unshare,
                        "unshare made a user and a mount namespace");
}
static int case_setns(const char *id) {
  return probe_in_child(id, run_setns, "setns joined a network namespace");
}

static const struct probe_case kCases[] = {
    {"clone-newuser", case_clone_newuser},
    {"clone3-newuser", case_clone3_newuser},
    {"clone-newnet", case_clone_newnet},
    {"unshare-user-mnt", case_unshare},
    {"setns", case_setns},
};

int main(int argc, char **argv, char **envp) {
  (void)envp;
  return probe_run_case("ns-flags", argc, argv, kCases,
                        sizeof(kCases) / sizeof(kCases[0]), NULL);
}
