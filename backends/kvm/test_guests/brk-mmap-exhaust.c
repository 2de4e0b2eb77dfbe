/* kvm test guest `brk-mmap-exhaust [MAX_MIB]`: takes memory until the guest
 * kernel refuses: brk up in 1 MiB steps (at most 8), then anonymous 1 MiB
 * mmaps until one fails, then brk again until it stops growing; at most
 * MAX_MIB (default 4096) in all, so a native run ends too. Every page it
 * gets is written with its own tag and all are read back at the end, so two
 * grants that overlap (or memory that is not really there) are caught.
 * Prints `brk_mib=B mmap_mib=M total_mib=T mmap_err=ERR` and exits 0, or
 * prints `overlap at 0x...` and exits 1. In the VM the total stays below
 * the guest's RAM, which is the policy's memory limit. */
#include "backends/kvm/test_guests/guest.h"

enum { kChunk = 1 << 20, kPage = 4096, kMaxChunks = 8192 };

/* The chunks obtained, in order. */
static unsigned long chunks[kMaxChunks];
static unsigned long nchunks;

static void tag(unsigned long chunk, unsigned long index) {
  for (unsigned long off = 0; off < kChunk; off += kPage) {
    *(volatile unsigned long *)(chunk + off) = (index << 12) | (off >> 12);
  }
}

static int verify(void) {
  for (unsigned long i = 0; i < nchunks; i++) {
    for (unsigned long off = 0; off < kChunk; off += kPage) {
      unsigned long address = chunks[i] + off;
      if (*(volatile unsigned long *)address != ((i << 12) | (off >> 12))) {
        rt_printf("overlap at 0x%lx\n", address);
        return 0;
      }
    }
  }
  return 1;
}

static void take(unsigned long chunk) {
  tag(chunk, nchunks);
  chunks[nchunks++] = chunk;
}

/* Grows brk by up to `steps` MiB; returns how many it got. */
static unsigned long grow_brk(unsigned long steps, unsigned long limit) {
  unsigned long got = 0;
  unsigned long current = (unsigned long)syscall1(SYS_brk, 0);
  while (got < steps && nchunks < limit) {
    unsigned long want = current + kChunk;
    unsigned long now = (unsigned long)syscall1(SYS_brk, (long)want);
    if (now != want) break;
    take(current);
    current = want;
    got++;
  }
  return got;
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t max_mib = 0;
  if (argc > 2 || guest_arg_u64(argc, argv, 1, 4096, &max_mib) != 0 ||
      max_mib == 0 || max_mib > kMaxChunks) {
    rt_eprintf("usage: brk-mmap-exhaust [MAX_MIB] (1..%d)\n", kMaxChunks);
    return GUEST_EXIT_USAGE;
  }
  unsigned long brk_mib = grow_brk(8, max_mib);
  unsigned long mmap_mib = 0;
  long err = 0;
  while (nchunks < max_mib) {
    long p = syscall6(SYS_mmap, 0, kChunk, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096) {
      err = p;
      break;
    }
    take((unsigned long)p);
    mmap_mib++;
  }
  brk_mib += grow_brk(max_mib, max_mib);
  if (!verify()) return 1;
  char text[24];
  rt_printf("brk_mib=%lu mmap_mib=%lu total_mib=%lu mmap_err=%s\n", brk_mib,
            mmap_mib, nchunks,
            err != 0 ? guest_result(err, text, sizeof text) : "none");
  return 0;
}
