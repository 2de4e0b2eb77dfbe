/* scratch-attack: tries to unmap, reprotect, replace, discard and move the
 * page where the ptrace backend keeps checked copies of path arguments
 * (0x10000), or to map it a second time, and prints what each call
 * returned. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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
  printf("mremap-dup=%s\n", result(duplicate == MAP_FAILED ? -1 : 0));
  return 0;
}
