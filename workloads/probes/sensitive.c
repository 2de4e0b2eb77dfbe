/* probe sensitive CASE: the sensitive but unprivileged x86 instructions of
 * Popek and Goldberg's argument. Each case executes one instruction (or one
 * pushf/popf sequence) and prints what the workload observed:
 *
 *   PROBE sensitive.<case> REACHABLE value=<token> cpl=<n> [words...]
 *     it completed; <token> is one word, the part of what it returned that
 *     is the same from run to run on one host (no CPU numbers, no time),
 *     so the runner can compare it across backends;
 *   PROBE sensitive.<case> BLOCKED signal=<n> (<name>) code=<si_code> cpl=<n>
 *     it faulted and the workload's own handler got the signal;
 *   PROBE sensitive.<case> NA absent=<why> cpl=<n>
 *     CPUID says the CPU (real or virtual) lacks it: not executed.
 *
 * Extra words: `effect=changed|ignored` for the popf cases (did the flag
 * really change?), `umip=emulated` for the five UMIP instructions run at
 * CPL 3 on a CPU with UMIP that completed without a signal (the CPU raised
 * #GP and the kernel answered with a made-up value), `umip=off` when they
 * ran at CPL 3 on a CPU without UMIP. Harmless everywhere: nothing is
 * written but the probe's own flags, restored at once; the only syscalls
 * are rt_sigaction, write and exit (a strict policy lets them run).
 *
 * Why each one is sensitive (it reads or depends on state a virtual
 * machine monitor must virtualize) yet unprivileged (it does not trap at
 * CPL 3, so a classic trap-and-emulate monitor never sees it):
 *   pushf      reads the real IF and IOPL, not a monitor's virtual ones
 *   popf-if    clearing IF at CPL 3 is silently ignored: no trap to emulate
 *   popf-iopl  changing IOPL at CPL > 0 is silently ignored as well
 *   sgdt sidt  the GDT/IDT base and limit: where the (real) kernel keeps them
 *   sldt str   the LDT and task register selectors of the real kernel
 *   smsw       the low bits of the real CR0
 *   lar lsl    a descriptor's access rights and limit: the real GDT's
 *              layout and its privilege levels (lsl on Linux's per-CPU
 *              segment even reads the CPU number)
 *   verr verw  which descriptors are readable/writable at this CPL
 *   cs ss      the selector's low two bits are the CPL the code runs at
 *   rdpid rdtscp  TSC_AUX: the host's CPU number (Linux puts it there)
 *   cpuid-1    family, model, features and the hypervisor bit
 *   cpuid-40000000  a hypervisor's vendor signature
 *   xgetbv     XCR0: which register state the real OS enabled */
#include "workloads/probes/probe.h"

#define RFLAGS_IF 0x200ul
#define RFLAGS_IOPL 0x3000ul
/* Linux's GDT_ENTRY_CPUNODE (15) at RPL 3: a data segment whose limit is
 * (node << 12) | cpu, read with lsl by the vDSO's getcpu. */
#define LINUX_CPUNODE_SELECTOR 0x7b
/* What Linux's UMIP emulation answers for sgdt and sidt (arch/x86/kernel/
 * umip.c): a base near the top of the address space, limit 0. */
#define UMIP_DUMMY_GDT_BASE 0xfffffffffffe0000ul
#define UMIP_DUMMY_IDT_BASE 0xffffffffffff0000ul
/* Where x86-64's canonical upper half, the kernel's, begins. */
#define KERNEL_HALF 0xffff800000000000ul
/* verr/verw/lar are tried on GDT selectors 1..SELECTORS-1. */
#define SELECTORS 32

static volatile unsigned long resume_at;
static volatile int got_signal;
static volatile int got_code;

static void on_fault(int sig, struct rt_siginfo *info, void *uc) {
  got_signal = sig;
  got_code = info->si_code;
  RT_UCONTEXT_RIP(uc) = resume_at;
}

/* Records the address of local label 1 as the resume point; RESUME defines
 * it. A faulting instruction between them resumes at the label with the
 * outputs as they were initialised. */
#define ARM "lea 1f(%%rip), %%r11\n\tmov %%r11, %[resume]\n\t"
#define RESUME "\n1:"

/* What one case observed. */
struct seen {
  char value[64];     /* the comparison token */
  char extra[160];    /* further words for people */
  const char *absent; /* set: not executed, and why */
  const char *effect; /* popf cases: "changed" or "ignored" */
  int umip_covered;   /* one of sgdt sidt sldt str smsw */
};

static void cpuid_count(unsigned int leaf, unsigned int sub,
                        unsigned int r[4]) {
  __asm__ volatile("cpuid"
                   : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                   : "a"(leaf), "c"(sub));
}

static unsigned int max_leaf(unsigned int base) {
  unsigned int r[4];
  cpuid_count(base, 0, r);
  return r[0];
}

/* CPUID.(7,0):ECX bit `bit`, 0 when leaf 7 is absent. */
static int leaf7_ecx(int bit) {
  unsigned int r[4];
  if (max_leaf(0) < 7) return 0;
  cpuid_count(7, 0, r);
  return (r[2] >> bit) & 1;
}

static unsigned int read_cs(void) {
  unsigned short cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  return cs;
}

static unsigned int read_ss(void) {
  unsigned short ss;
  __asm__ volatile("mov %%ss, %0" : "=r"(ss));
  return ss;
}

static unsigned long read_flags(void) {
  unsigned long f;
  __asm__ volatile("pushfq\n\tpopq %0" : "=r"(f));
  return f;
}

/* popf of the flags with `bits` flipped, pushf, popf of the original: the
 * flags as they read back right after the change. */
static unsigned long flip_flags(unsigned long bits, unsigned long *before) {
  unsigned long f0 = 0, f2 = 0;
  __asm__ volatile(ARM
                   "pushfq\n\t"
                   "movq (%%rsp), %[f0]\n\t"
                   "xorq %[bits], (%%rsp)\n\t"
                   "popfq\n\t"
                   "pushfq\n\t"
                   "popq %[f2]\n\t"
                   "pushq %[f0]\n\t"
                   "popfq" RESUME
                   : [resume] "=m"(resume_at), [f0] "+&r"(f0), [f2] "+&r"(f2)
                   : [bits] "r"(bits)
                   : "r11", "cc", "memory");
  *before = f0;
  return f2;
}

static int lar(unsigned int sel, unsigned int *rights) {
  unsigned int r = 0;
  unsigned char ok = 0;
  __asm__ volatile(ARM "lar %w[sel], %[r]\n\tsetz %[ok]" RESUME
                   : [resume] "=m"(resume_at), [r] "+r"(r), [ok] "+q"(ok)
                   : [sel] "r"(sel)
                   : "r11", "cc");
  *rights = r;
  return ok;
}

static int lsl(unsigned int sel, unsigned int *limit) {
  unsigned int r = 0;
  unsigned char ok = 0;
  __asm__ volatile(ARM "lsl %w[sel], %[r]\n\tsetz %[ok]" RESUME
                   : [resume] "=m"(resume_at), [r] "+r"(r), [ok] "+q"(ok)
                   : [sel] "r"(sel)
                   : "r11", "cc");
  *limit = r;
  return ok;
}

static int verr(unsigned int sel) {
  unsigned char ok = 0;
  __asm__ volatile(ARM "verr %w[sel]\n\tsetz %[ok]" RESUME
                   : [resume] "=m"(resume_at), [ok] "+q"(ok)
                   : [sel] "r"(sel)
                   : "r11", "cc");
  return ok;
}

static int verw(unsigned int sel) {
  unsigned char ok = 0;
  __asm__ volatile(ARM "verw %w[sel]\n\tsetz %[ok]" RESUME
                   : [resume] "=m"(resume_at), [ok] "+q"(ok)
                   : [sel] "r"(sel)
                   : "r11", "cc");
  return ok;
}

/* TSC_AUX as one token: "cpunode" when it equals the limit of Linux's
 * per-CPU segment (both are Linux's (node << 12) | cpu of this CPU: the
 * host's own value), else its value. Read around the lsl a few times in
 * case the probe moved to another CPU in between. */
static void tsc_aux_token(struct seen *s, unsigned long (*read_aux)(void)) {
  unsigned long aux = 0;
  unsigned int limit = 0;
  int segment = 0;
  for (int tries = 0; tries < 16; tries++) {
    aux = read_aux();
    if (got_signal) return;
    segment = lsl(LINUX_CPUNODE_SELECTOR, &limit);
    if (got_signal) return;
    if (read_aux() == aux) break;
  }
  if (segment && limit == aux) {
    rt_strlcpy(s->value, "cpunode", sizeof(s->value));
  } else {
    rt_snprintf(s->value, sizeof(s->value), "0x%lx", aux);
  }
  if (segment) {
    rt_snprintf(s->extra, sizeof(s->extra), "aux=0x%lx cpunode=0x%x", aux,
                limit);
  } else {
    rt_snprintf(s->extra, sizeof(s->extra), "aux=0x%lx cpunode=none", aux);
  }
}

static unsigned long read_rdpid(void) {
  unsigned long aux = 0;
  __asm__ volatile(ARM "rdpid %[aux]" RESUME
                   : [resume] "=m"(resume_at), [aux] "+r"(aux)
                   :
                   : "r11");
  return aux;
}

static unsigned long read_rdtscp(void) {
  unsigned int lo = 0, hi = 0, aux = 0;
  __asm__ volatile(ARM "rdtscp" RESUME
                   : [resume] "=m"(resume_at), "+a"(lo), "+d"(hi), "+c"(aux)
                   :
                   : "r11");
  return aux;
}

static void case_pushf(struct seen *s) {
  unsigned long f = read_flags();
  rt_snprintf(s->value, sizeof(s->value), "if:%d,iopl:%d",
              (f & RFLAGS_IF) ? 1 : 0, (int)((f & RFLAGS_IOPL) >> 12));
  rt_snprintf(s->extra, sizeof(s->extra), "rflags=0x%lx", f);
}

static void popf_case(struct seen *s, unsigned long bits, const char *name,
                      int shift) {
  unsigned long before = 0;
  unsigned long after = flip_flags(bits, &before);
  if (got_signal) return;
  unsigned long was = (before & bits) >> shift;
  unsigned long now = (after & bits) >> shift;
  s->effect = was != now ? "changed" : "ignored";
  rt_snprintf(s->value, sizeof(s->value), "%s", s->effect);
  rt_snprintf(s->extra, sizeof(s->extra), "%s=%lu->%lu (asked %lu)", name, was,
              now, ((before ^ bits) & bits) >> shift);
}

static void case_popf_if(struct seen *s) { popf_case(s, RFLAGS_IF, "if", 9); }

static void case_popf_iopl(struct seen *s) {
  popf_case(s, RFLAGS_IOPL, "iopl", 12);
}

struct __attribute__((packed)) table_register {
  unsigned short limit;
  unsigned long base;
};

static void table_case(struct seen *s, int idt) {
  struct table_register t = {0, 0};
  s->umip_covered = 1;
  if (idt) {
    __asm__ volatile(ARM "sidt %[t]" RESUME
                     : [resume] "=m"(resume_at), [t] "+m"(t)
                     :
                     : "r11");
  } else {
    __asm__ volatile(ARM "sgdt %[t]" RESUME
                     : [resume] "=m"(resume_at), [t] "+m"(t)
                     :
                     : "r11");
  }
  unsigned long dummy = idt ? UMIP_DUMMY_IDT_BASE : UMIP_DUMMY_GDT_BASE;
  const int umip_dummy = t.base == dummy && t.limit == 0;
  /* A real table read at CPL 3 is the one of the CPU the probe ran on:
   * Linux keeps each CPU's GDT at an address of its own, and under some
   * hypervisors (PVM) both tables are those of the physical CPU below,
   * which no affinity chooses. Only its limit and its place in the kernel
   * half are the same from run to run; the base stays in `base=`. */
  if (!umip_dummy && (read_cs() & 3) == 3 && t.base >= KERNEL_HALF) {
    rt_snprintf(s->value, sizeof(s->value), "kernel/0x%x",
                (unsigned int)t.limit);
  } else {
    rt_snprintf(s->value, sizeof(s->value), "0x%lx/0x%x", t.base,
                (unsigned int)t.limit);
  }
  rt_snprintf(s->extra, sizeof(s->extra), "base=0x%lx limit=0x%x%s", t.base,
              (unsigned int)t.limit, umip_dummy ? " (Linux's UMIP dummy)" : "");
}

static void case_sgdt(struct seen *s) { table_case(s, 0); }
static void case_sidt(struct seen *s) { table_case(s, 1); }

static void case_sldt(struct seen *s) {
  unsigned short sel = 0xffff;
  s->umip_covered = 1;
  __asm__ volatile(ARM "sldt %[sel]" RESUME
                   : [resume] "=m"(resume_at), [sel] "+r"(sel)
                   :
                   : "r11");
  rt_snprintf(s->value, sizeof(s->value), "0x%x", (unsigned int)sel);
}

static void case_str(struct seen *s) {
  unsigned short sel = 0xffff;
  s->umip_covered = 1;
  __asm__ volatile(ARM "str %[sel]" RESUME
                   : [resume] "=m"(resume_at), [sel] "+r"(sel)
                   :
                   : "r11");
  rt_snprintf(s->value, sizeof(s->value), "0x%x", (unsigned int)sel);
}

static void case_smsw(struct seen *s) {
  unsigned long msw = 0;
  s->umip_covered = 1;
  __asm__ volatile(ARM "smsw %[msw]" RESUME
                   : [resume] "=m"(resume_at), [msw] "+r"(msw)
                   :
                   : "r11");
  rt_snprintf(s->value, sizeof(s->value), "0x%lx", msw);
}

/* Bit i: the instruction accepts GDT selector i at RPL = the CPL. */
static unsigned long selector_map(int (*check)(unsigned int sel)) {
  unsigned int rpl = read_cs() & 3;
  unsigned long map = 0;
  for (unsigned int i = 1; i < SELECTORS && !got_signal; i++) {
    if (check((i << 3) | rpl)) map |= 1ul << i;
  }
  return map;
}

static int lar_ok(unsigned int sel) {
  unsigned int rights;
  return lar(sel, &rights);
}

static void case_lar(struct seen *s) {
  unsigned int rights = 0;
  int ok = lar(read_cs(), &rights);
  if (got_signal) return;
  unsigned long map = selector_map(lar_ok);
  if (got_signal) return;
  /* Bits 8-23 of the descriptor's high word: type, S, DPL, P, AVL, L, D,
   * G. */
  if (ok) {
    rt_snprintf(s->value, sizeof(s->value), "cs:0x%x,gdt:0x%lx", rights, map);
  } else {
    rt_snprintf(s->value, sizeof(s->value), "cs:invalid,gdt:0x%lx", map);
  }
  rt_snprintf(s->extra, sizeof(s->extra), "cs_dpl=%u gdt_valid=0x%lx",
              (rights >> 13) & 3, map);
}

static void case_lsl(struct seen *s) {
  unsigned int limit = 0;
  int ok = lsl(LINUX_CPUNODE_SELECTOR, &limit);
  if (got_signal) return;
  rt_strlcpy(s->value, ok ? "cpunode" : "invalid", sizeof(s->value));
  if (ok) {
    rt_snprintf(s->extra, sizeof(s->extra),
                "selector=0x%x limit=0x%x (Linux's per-CPU segment: cpu %u "
                "node %u)",
                LINUX_CPUNODE_SELECTOR, limit, limit & 0xfff, limit >> 12);
  } else {
    rt_snprintf(s->extra, sizeof(s->extra), "selector=0x%x not usable",
                LINUX_CPUNODE_SELECTOR);
  }
}

static void case_verr(struct seen *s) {
  unsigned long map = selector_map(verr);
  rt_snprintf(s->value, sizeof(s->value), "0x%lx", map);
}

static void case_verw(struct seen *s) {
  unsigned long map = selector_map(verw);
  rt_snprintf(s->value, sizeof(s->value), "0x%lx", map);
}

static void case_cs(struct seen *s) {
  rt_snprintf(s->value, sizeof(s->value), "0x%x", read_cs());
}

static void case_ss(struct seen *s) {
  rt_snprintf(s->value, sizeof(s->value), "0x%x", read_ss());
}

static void case_rdpid(struct seen *s) {
  if (!leaf7_ecx(22)) {
    s->absent = "cpuid-7-ecx-22-clear";
    return;
  }
  tsc_aux_token(s, read_rdpid);
}

static void case_rdtscp(struct seen *s) {
  unsigned int r[4];
  if (max_leaf(0x80000000u) < 0x80000001u) {
    s->absent = "no-extended-leaf";
    return;
  }
  cpuid_count(0x80000001u, 0, r);
  if (((r[3] >> 27) & 1) == 0) {
    s->absent = "cpuid-80000001-edx-27-clear";
    return;
  }
  tsc_aux_token(s, read_rdtscp);
}

static void case_cpuid_1(struct seen *s) {
  unsigned int r[4];
  cpuid_count(1, 0, r);
  /* EBX[31:24] is the initial APIC id: which CPU answered. Left out. */
  rt_snprintf(s->value, sizeof(s->value), "0x%x/0x%x/0x%x/0x%x", r[0],
              r[1] & 0x00ffffffu, r[2], r[3]);
  rt_snprintf(s->extra, sizeof(s->extra), "hypervisor=%u family_model=0x%x",
              r[2] >> 31, r[0]);
}

static void case_cpuid_40000000(struct seen *s) {
  unsigned int r[4];
  cpuid_count(0x40000000u, 0, r);
  char raw[13];
  memcpy(raw, &r[1], 4);
  memcpy(raw + 4, &r[2], 4);
  memcpy(raw + 8, &r[3], 4);
  raw[12] = 0;
  char vendor[13];
  probe_sanitize(vendor, raw, sizeof(vendor));
  for (char *p = vendor; *p; p++) {
    if (*p == ' ') *p = '_';
  }
  rt_snprintf(s->value, sizeof(s->value), "%s/0x%x",
              vendor[0] ? vendor : "(empty)", r[0]);
}

static void case_xgetbv(struct seen *s) {
  unsigned int r[4];
  cpuid_count(1, 0, r);
  if (((r[2] >> 27) & 1) == 0) {
    s->absent = "osxsave-clear";
    return;
  }
  unsigned int lo = 0, hi = 0;
  __asm__ volatile(ARM "xgetbv" RESUME
                   : [resume] "=m"(resume_at), "+a"(lo), "+d"(hi)
                   : "c"(0)
                   : "r11");
  rt_snprintf(s->value, sizeof(s->value), "0x%lx",
              ((unsigned long)hi << 32) | lo);
}

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

static const struct {
  const char *name;
  void (*run)(struct seen *s);
} kCases[] = {
    {"pushf", case_pushf},
    {"popf-if", case_popf_if},
    {"popf-iopl", case_popf_iopl},
    {"sgdt", case_sgdt},
    {"sidt", case_sidt},
    {"sldt", case_sldt},
    {"str", case_str},
    {"smsw", case_smsw},
    {"lar", case_lar},
    {"lsl", case_lsl},
    {"verr", case_verr},
    {"verw", case_verw},
    {"cs", case_cs},
    {"ss", case_ss},
    {"rdpid", case_rdpid},
    {"rdtscp", case_rdtscp},
    {"cpuid-1", case_cpuid_1},
    {"cpuid-40000000", case_cpuid_40000000},
    {"xgetbv", case_xgetbv},
};
#define NCASES (sizeof(kCases) / sizeof(kCases[0]))

static int usage(void) {
  rt_eprintf("usage: sensitive CASE\ncases:");
  for (size_t i = 0; i < NCASES; i++) rt_eprintf(" %s", kCases[i].name);
  rt_eprintf("\n");
  return 2;
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  if (argc != 2) return usage();
  size_t which = NCASES;
  for (size_t i = 0; i < NCASES; i++) {
    if (strcmp(argv[1], kCases[i].name) == 0) which = i;
  }
  if (which == NCASES) return usage();
  char id[48];
  rt_snprintf(id, sizeof(id), "sensitive.%s", kCases[which].name);

  const int kSignals[] = {SIGSEGV, SIGILL, SIGTRAP, SIGFPE, SIGBUS};
  for (size_t i = 0; i < sizeof(kSignals) / sizeof(kSignals[0]); i++) {
    if (rt_sigaction_handler(kSignals[i], on_fault) != 0) {
      return probe_report(id, "NA", "rt_sigaction failed");
    }
  }
  const unsigned int cpl = read_cs() & 3;
  struct seen s;
  memset(&s, 0, sizeof(s));
  kCases[which].run(&s);

  char detail[320];
  if (got_signal != 0) {
    rt_snprintf(detail, sizeof(detail), "signal=%d (%s) code=%d cpl=%u",
                got_signal, signal_name(got_signal), got_code, cpl);
    return probe_report(id, "BLOCKED", detail);
  }
  if (s.absent != NULL) {
    rt_snprintf(detail, sizeof(detail), "absent=%s cpl=%u", s.absent, cpl);
    return probe_report(id, "NA", detail);
  }
  const char *umip = "";
  if (s.umip_covered && cpl == 3) {
    umip = leaf7_ecx(2) ? " umip=emulated" : " umip=off";
  }
  rt_snprintf(detail, sizeof(detail), "value=%s cpl=%u%s%s%s%s%s", s.value, cpl,
              s.effect ? " effect=" : "", s.effect ? s.effect : "", umip,
              s.extra[0] ? " " : "", s.extra);
  return probe_report(id, "REACHABLE", detail);
}
