/* probe int80: getpid through the i386 syscall table (int 0x80, eax=20).
 * A seccomp filter that does not check the architecture sees number 20 and
 * may mistake it for x86-64's pipe. Our pid back: REACHABLE (the i386 table
 * is open to the workload); ENOSYS/EPERM: BLOCKED; SIGSEGV (a kernel without
 * ia32 emulation): NA. Death by SIGSYS prints nothing. */
#include "workloads/probes/probe.h"

static volatile unsigned long resume_at;

static void on_segv(int sig, struct rt_siginfo *info, void *uc) {
  (void)sig;
  (void)info;
  RT_UCONTEXT_RIP(uc) = resume_at;
}

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  long pid = syscall0(SYS_getpid);
  if (rt_sigaction_handler(SIGSEGV, on_segv) != 0) {
    return probe_report("int80", "NA", "rt_sigaction failed");
  }
  long r = 20; /* i386 __NR_getpid */
  int faulted = 0;
  __asm__ volatile(
      "lea 1f(%%rip), %%rdx\n\t"
      "mov %%rdx, %[resume]\n\t"
      "movl $1, %[faulted]\n\t"
      "int $0x80\n\t"
      "movl $0, %[faulted]\n"
      "1:"
      : "+a"(r), [resume] "=m"(resume_at), [faulted] "+m"(faulted)
      :
      : "rdx", "r8", "r9", "r10", "r11", "memory");
  if (faulted) return probe_report("int80", "NA", "int 0x80 raised SIGSEGV");
  if (r == pid) return probe_report("int80", "REACHABLE", "returned our pid");
  char detail[64];
  if (r >= 0) {
    rt_snprintf(detail, sizeof(detail), "returned a different value");
    return probe_report("int80", "NA", detail);
  }
  rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(r));
  return probe_report("int80", "BLOCKED", detail);
}
