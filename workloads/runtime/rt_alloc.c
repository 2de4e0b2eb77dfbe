/* A simple allocator: blocks up to kLargeBlock come from a brk arena and are
 * never returned (the workloads are short-lived); larger ones get their own
 * mmap and are unmapped by rt_free. Each block has a 16-byte header holding
 * its mapped size (0 for arena blocks). */
#include "workloads/runtime/rt.h"

#define RT_LARGE_BLOCK (64UL * 1024)
#define RT_ARENA_GROW (256UL * 1024)
#define RT_HEADER 16UL

static uintptr_t arena_next;
static uintptr_t arena_end;

static void *arena_alloc(size_t total) {
  if (arena_next == 0) {
    long cur = syscall1(SYS_brk, 0);
    if (cur < 0) return NULL;
    arena_next = arena_end = ((uintptr_t)cur + 15) & ~15UL;
  }
  if (arena_end - arena_next < total) {
    uintptr_t want = arena_next + total + RT_ARENA_GROW;
    long got = syscall1(SYS_brk, (long)want);
    if (got < 0 || (uintptr_t)got < arena_next + total) return NULL;
    arena_end = (uintptr_t)got;
  }
  void *p = (void *)arena_next;
  arena_next += total;
  return p;
}

void *rt_malloc(size_t n) {
  if (n > (1UL << 40)) return NULL;
  size_t total = (n + RT_HEADER + 15) & ~15UL;
  size_t *h;
  if (total > RT_LARGE_BLOCK) {
    total = (total + 4095) & ~4095UL;
    long p = syscall6(SYS_mmap, 0, (long)total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0) return NULL;
    h = (size_t *)p;
    h[0] = total;
  } else {
    h = arena_alloc(total);
    if (h == NULL) return NULL;
    h[0] = 0;
  }
  return (char *)h + RT_HEADER;
}

void rt_free(void *p) {
  if (p == NULL) return;
  size_t *h = (size_t *)((char *)p - RT_HEADER);
  if (h[0] != 0) syscall2(SYS_munmap, (long)h, (long)h[0]);
}
