/* scratch-attack: tries to unmap, reprotect, replace, discard and move the
 * page where the ptrace backend keeps checked copies of path arguments
 * (0x10000), to map it a second time, to move the heap's bounds over it
 * (prctl PR_SET_MM, which brk would then unmap), to punch it out through
 * process_madvise, and to make a userfaultfd that handles kernel-mode
 * faults (through /dev/userfaultfd when it exists: "uffd=absent"
 * otherwise); prints what each call returned. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *result(long ret) {
  if (ret == 0 || ret == 0x10000) return "ok";
  switch (errno) {
    case EPERM:
      return "EPERM";
    case ENOMEM:
      return "ENOMEM";
    case EINVAL:
      return "EINVAL";
    default:
      return strerror(errno);
  }
}

int main(void) {
  void *page = (void *)0x10000;
  /* A path call the tracer hands a checked copy (not one isoscope
   * performs) maps the region. */
  if (chdir("/") != 0) perror("chdir");
  char line[256];
  int mapped = 0;
  FILE *maps = fopen("/proc/self/maps", "r");
  while (maps != NULL && fgets(line, sizeof line, maps) != NULL) {
    mapped |= strncmp(line, "00010000-", 9) == 0;
  }
  if (maps != NULL) fclose(maps);
  printf("mapped=%s ", mapped ? "yes" : "no");
  long unmapped = munmap(page, 4096);
  printf("munmap=%s ", result(unmapped));
  long reprotected = mprotect(page, 4096, PROT_READ | PROT_WRITE);
  printf("mprotect=%s ", result(reprotected));
  void *fixed = mmap(page, 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  printf("mmap-fixed=%s ", result(fixed == MAP_FAILED ? -1 : 0));
  long discarded = madvise(page, 4096, MADV_DONTNEED);
  printf("madvise=%s ", result(discarded));
  void *moved = mremap(page, 4096, 8192, 0);
  printf("mremap=%s ", result(moved == MAP_FAILED ? -1 : 0));
  /* An old size of 0 duplicates a shared mapping elsewhere, where it could
   * be made writable. */
  void *duplicate = mremap(page, 0, 4096, MREMAP_MAYMOVE);
  printf("mremap-dup=%s ", result(duplicate == MAP_FAILED ? -1 : 0));
  long moved_heap = prctl(PR_SET_MM, PR_SET_MM_START_BRK, 0x10000UL, 0, 0);
  printf("prctl-set-mm=%s ", result(moved_heap));
  int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
  struct iovec range = {page, 4096};
  long punched = syscall(SYS_process_madvise, self, &range, 1, MADV_REMOVE, 0);
  printf("process-madvise=%s ", result(punched < 0 ? -1 : 0));
  int device = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (device < 0) {
    printf("uffd=absent\n");
    return 0;
  }
  /* USERFAULTFD_IOC_NEW, with and without UFFD_USER_MODE_ONLY (1). */
  long kernel_mode = ioctl(device, 0xAA00, O_CLOEXEC);
  printf("uffd-kernel=%s ", result(kernel_mode < 0 ? -1 : 0));
  long user_mode = ioctl(device, 0xAA00, O_CLOEXEC | 1);
  printf("uffd-user=%s\n", result(user_mode < 0 ? -1 : 0));
  return 0;
}
