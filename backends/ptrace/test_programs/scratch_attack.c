/* scratch-attack: tries to unmap, reprotect, replace, discard and move the
 * page where the ptrace backend keeps checked copies of path arguments
 * (0x10000), and prints what each call returned. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

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
  FILE *f = fopen("/etc/hostname", "r"); /* a path syscall maps the region */
  if (f) fclose(f);
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
  printf("mremap=%s\n", result(moved == MAP_FAILED ? -1 : 0));
  return 0;
}
