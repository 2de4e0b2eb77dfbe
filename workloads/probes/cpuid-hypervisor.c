/* probe cpuid-hypervisor (detection): CPUID leaf 1 ECX bit 31 (running
 * under a hypervisor) and, when set, the vendor string of leaf 0x40000000
 * (EBX ECX EDX, e.g. KVMKVMKVM). Bit set: REACHABLE with the vendor; clear:
 * BLOCKED. Where CPUID faults (CPUID faulting without an emulating
 * supervisor) the probe dies by SIGSEGV and prints nothing. */
#include "workloads/probes/probe.h"

static void cpuid(unsigned int leaf, unsigned int r[4]) {
  __asm__ volatile("cpuid"
                   : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                   : "a"(leaf), "c"(0));
}

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  unsigned int r[4];
  cpuid(1, r);
  if ((r[2] & 0x80000000u) == 0) {
    return probe_report("cpuid-hypervisor", "BLOCKED", "hypervisor bit clear");
  }
  cpuid(0x40000000u, r);
  char raw[13];
  memcpy(raw, &r[1], 4);
  memcpy(raw + 4, &r[2], 4);
  memcpy(raw + 8, &r[3], 4);
  raw[12] = 0;
  char vendor[13];
  probe_sanitize(vendor, raw, sizeof(vendor));
  char detail[96];
  rt_snprintf(detail, sizeof(detail), "hypervisor bit set vendor=%s max=0x%x",
              vendor[0] != 0 ? vendor : "(empty)", r[0]);
  return probe_report("cpuid-hypervisor", "REACHABLE", detail);
}
