/* probe fault-map CASE...: the fault routing map. For each CASE argument it
 * executes one instruction and reports who handled it, as one line
 *   PROBE fault-map.<case> BLOCKED signal=<n> (<name>) code=<si_code>
 *     the instruction trapped and reached the workload as a signal;
 *   PROBE fault-map.<case> REACHABLE completed <result>
 *     it completed: executed for real or emulated by the backend.
 * A case that kills the workload prints nothing. Handlers for SIGSEGV,
 * SIGILL, SIGTRAP, SIGFPE and SIGBUS resume after the instruction.
 * Cases: syscall unmapped hlt cli out rdmsr cpuid rdtsc int3 ud2 div0. */
#include "workloads/probes/probe.h"

static volatile unsigned long resume_at;
static volatile int got_signal;
static volatile int got_code;

static void on_fault(int sig, struct rt_siginfo *info, void *uc) {
  got_signal = sig;
  got_code = info->si_code;
  RT_UCONTEXT_RIP(uc) = resume_at;
}

/* Records the address of local label 1 as the resume point, runs INSN, and
 * defines label 1 right after it. */
#define ARM "lea 1f(%%rip), %%r11\n\tmov %%r11, %[resume]\n\t"
#define RESUME "\n1:"

static const char *signal_name(int sig) {
  switch (sig) {
    case SIGILL:
      return "SIGILL";
    case SIGTRAP:
      return "SIGTRAP";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGSEGV:
      return "SIGSEGV";
    default:
      return "?";
  }
}

/* Runs one case; fills `result` when the instruction completes. Returns -1
 * for an unknown case. */
static int run_case(const char *name, char *result, size_t size) {
  unsigned int a = 0, b = 0, c = 0, d = 0;
  rt_strlcpy(result, "", size);
  if (strcmp(name, "syscall") == 0) {
    long pid = syscall0(SYS_getpid);
    rt_snprintf(result, size, "getpid=%s", pid > 0 ? "positive" : "error");
  } else if (strcmp(name, "unmapped") == 0) {
    long page = syscall6(SYS_mmap, 0, 4096, PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page < 0 || syscall2(SYS_munmap, page, 4096) != 0) {
      rt_strlcpy(result, "could not set up an unmapped page", size);
    } else {
      __asm__ volatile(ARM "movb (%[p]), %%al" RESUME
                       : [resume] "=m"(resume_at), "=a"(a)
                       : [p] "r"(page)
                       : "r11", "memory");
      rt_strlcpy(result, "read succeeded", size);
    }
  } else if (strcmp(name, "hlt") == 0) {
    __asm__ volatile(ARM "hlt" RESUME : [resume] "=m"(resume_at)::"r11");
  } else if (strcmp(name, "cli") == 0) {
    __asm__ volatile(ARM "cli" RESUME : [resume] "=m"(resume_at)::"r11");
  } else if (strcmp(name, "out") == 0) {
    __asm__ volatile(ARM "outb %%al, %%dx" RESUME
                     : [resume] "=m"(resume_at)
                     : "a"(0), "d"(0x3f8)
                     : "r11");
  } else if (strcmp(name, "rdmsr") == 0) {
    __asm__ volatile(ARM "rdmsr" RESUME
                     : [resume] "=m"(resume_at), "=a"(a), "=d"(d)
                     : "c"(0x10) /* IA32_TIME_STAMP_COUNTER */
                     : "r11");
    rt_strlcpy(result, "msr 0x10 read", size);
  } else if (strcmp(name, "cpuid") == 0) {
    __asm__ volatile(ARM "cpuid" RESUME
                     : [resume] "=m"(resume_at), "=a"(a), "=b"(b), "=c"(c),
                       "=d"(d)
                     : "a"(0), "c"(0)
                     : "r11");
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    for (int i = 0; i < 12; i++) {
      if (vendor[i] < 0x21 || vendor[i] > 0x7e) vendor[i] = '_';
    }
    rt_snprintf(result, size, "vendor=%s", vendor);
  } else if (strcmp(name, "rdtsc") == 0) {
    __asm__ volatile(ARM "rdtsc" RESUME
                     : [resume] "=m"(resume_at), "=a"(a), "=d"(d)::"r11");
    rt_snprintf(result, size, "tsc=%s", (a | d) != 0 ? "nonzero" : "zero");
  } else if (strcmp(name, "int3") == 0) {
    __asm__ volatile(ARM "int3" RESUME : [resume] "=m"(resume_at)::"r11");
  } else if (strcmp(name, "ud2") == 0) {
    __asm__ volatile(ARM "ud2" RESUME : [resume] "=m"(resume_at)::"r11");
  } else if (strcmp(name, "div0") == 0) {
    __asm__ volatile(ARM "divl %%ecx" RESUME
                     : [resume] "=m"(resume_at), "+a"(a), "+d"(d)
                     : "c"(0)
                     : "r11");
    rt_snprintf(result, size, "quotient=%u", a);
  } else {
    return -1;
  }
  return 0;
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  static const char kUsage[] =
      "usage: fault-map CASE...  (CASE: syscall unmapped hlt cli out rdmsr "
      "cpuid rdtsc int3 ud2 div0)\n";
  if (argc < 2) {
    rt_eprintf("%s", kUsage);
    return 2;
  }
  const int kSignals[] = {SIGSEGV, SIGILL, SIGTRAP, SIGFPE, SIGBUS};
  for (size_t i = 0; i < sizeof(kSignals) / sizeof(kSignals[0]); i++) {
    if (rt_sigaction_handler(kSignals[i], on_fault) != 0) {
      return probe_report("fault-map", "NA", "rt_sigaction failed");
    }
  }
  for (int i = 1; i < argc; i++) {
    char result[64];
    char id[48];
    char detail[96];
    got_signal = 0;
    if (rt_snprintf(id, sizeof(id), "fault-map.%s", argv[i]) >=
            (int)sizeof(id) ||
        run_case(argv[i], result, sizeof(result)) != 0) {
      rt_eprintf("fault-map: unknown case '%s'\n%s", argv[i], kUsage);
      return 2;
    }
    if (got_signal != 0) {
      rt_snprintf(detail, sizeof(detail), "signal=%d (%s) code=%d", got_signal,
                  signal_name(got_signal), got_code);
      probe_report(id, "BLOCKED", detail);
    } else {
      rt_snprintf(detail, sizeof(detail), "completed%s%s", result[0] ? " " : "",
                  result);
      probe_report(id, "REACHABLE", detail);
    }
  }
  return 0;
}
