/* probe memory-bomb (noisy, bounded): maps and touches (one write per
 * page) 16 MiB anonymous chunks until 2 GiB or the first failure, then
 * unmaps them. 2 GiB reached: REACHABLE; a failed mmap before (ENOMEM:
 * RLIMIT_AS, overcommit or a guest's memory): BLOCKED with the MiB reached.
 * A memory cgroup limit usually ends it with an OOM kill (SIGKILL, no
 * line), which the runner reports. */
#include "workloads/probes/probe.h"

enum {
  kChunk = 16 << 20,
  kMaxChunks = 128, /* 2 GiB */
  kPage = 4096,
};

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  static long chunks[kMaxChunks];
  int count = 0;
  long err = 0;
  while (count < kMaxChunks) {
    long p = syscall6(SYS_mmap, 0, kChunk, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096) {
      err = p;
      break;
    }
    for (long off = 0; off < kChunk; off += kPage) {
      *(volatile char *)(p + off) = 1;
    }
    chunks[count++] = p;
  }
  for (int i = 0; i < count; i++) syscall2(SYS_munmap, chunks[i], kChunk);
  char detail[96];
  if (err == 0) {
    rt_snprintf(detail, sizeof(detail), "mib=%d (all, unmapped)", count * 16);
    return probe_report("memory-bomb", "REACHABLE", detail);
  }
  rt_snprintf(detail, sizeof(detail), "mib=%d then errno=%s", count * 16,
              rt_errname(err));
  return probe_report("memory-bomb", "BLOCKED", detail);
}
