/* probe sysv-shm: looks up the SysV shared memory segment the probe runner
 * created (mode 0600) with key $ISOSCOPE_CANARY_SHM_KEY: shmget(key, 0, 0),
 * then shmat read-only, reads the first byte, shmdt. Attached: ESCAPED (the
 * host's IPC objects are visible and usable); ENOENT (another IPC namespace),
 * EACCES/EPERM or ENOSYS: BLOCKED. Key 0 (IPC_PRIVATE) is refused. */
#include "workloads/probes/probe.h"

static const char kId[] = "sysv-shm";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum { SHM_RDONLY = 010000 };
  int64_t key;
  /* key_t is an int; accept it printed signed or unsigned. */
  if (probe_canary_number(kId, "ISOSCOPE_CANARY_SHM_KEY", -0x80000000L,
                          0xffffffffL, &key) != 0) {
    return 0;
  }
  if (key == 0) return probe_report(kId, "NA", "bad canary: IPC_PRIVATE key");
  char detail[96];
  long id = syscall3(SYS_shmget, (long)(int)key, 0, 0);
  if (id < 0) {
    rt_snprintf(detail, sizeof(detail), "shmget errno=%s", rt_errname(id));
    return probe_report(
        kId,
        id == -ENOENT || id == -EACCES || id == -EPERM || id == -ENOSYS
            ? "BLOCKED"
            : "NA",
        detail);
  }
  long addr = syscall3(SYS_shmat, id, 0, SHM_RDONLY);
  if (addr < 0 && addr > -4096) {
    rt_snprintf(detail, sizeof(detail), "segment visible, shmat errno=%s",
                rt_errname(addr));
    return probe_report(
        kId, addr == -EACCES || addr == -EPERM ? "BLOCKED" : "NA", detail);
  }
  unsigned char first = *(volatile unsigned char *)addr;
  syscall1(SYS_shmdt, addr);
  (void)first;
  return probe_report(kId, "ESCAPED",
                      "attached the segment read-only, read 1 byte");
}
