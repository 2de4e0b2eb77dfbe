/* file-io [N]: writes N 4 KiB blocks to a file in the current directory,
 * fsyncs, reads them back and checks them, then unlinks the file. */
#include "workloads/bench/bench.h"

#define BLOCK 4096UL
static const char kFile[] = "isoscope-file-io.tmp";

/* Block i holds the 64-bit words i * 512 + w, so a misplaced block shows. */
static void fill_block(uint64_t *buf, uint64_t i) {
  for (uint64_t w = 0; w < BLOCK / 8; w++) buf[w] = i * (BLOCK / 8) + w;
}

static long transfer(int nr, long fd, char *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    long r = syscall3(nr, fd, (long)(buf + done), (long)(n - done));
    if (r == -EINTR) continue;
    if (r <= 0) return r < 0 ? r : -EIO;
    done += (size_t)r;
  }
  return 0;
}

static int run(uint64_t n, uint64_t *buf, uint64_t *expect) {
  long fd = syscall3(SYS_open, (long)kFile,
                     O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    rt_eprintf("file-io: open %s: %s\n", kFile, rt_errname(fd));
    return 0;
  }
  int ok = 1;
  long r = 0;
  for (uint64_t i = 0; i < n && r == 0; i++) {
    fill_block(buf, i);
    r = transfer(SYS_write, fd, (char *)buf, BLOCK);
  }
  if (r == 0) r = syscall1(SYS_fsync, fd);
  if (r == 0) r = syscall3(SYS_lseek, fd, 0, 0);
  for (uint64_t i = 0; i < n && r == 0; i++) {
    r = transfer(SYS_read, fd, (char *)buf, BLOCK);
    fill_block(expect, i);
    if (r == 0 && memcmp(buf, expect, BLOCK) != 0) ok = 0;
  }
  if (r != 0) {
    rt_eprintf("file-io: %s\n", rt_errname(r));
    ok = 0;
  }
  syscall1(SYS_close, fd);
  if (syscall1(SYS_unlink, (long)kFile) != 0) ok = 0;
  return ok;
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t n = bench_count_arg(argc, argv, "file-io", 64, 1UL << 20);
  uint64_t *buf = rt_malloc(BLOCK);
  uint64_t *expect = rt_malloc(BLOCK);
  int ok = buf != NULL && expect != NULL && run(n, buf, expect);
  rt_printf("RESULT file-io n=%lu bytes=%lu ok=%d\n", n, n * BLOCK, ok);
  return ok ? 0 : 1;
}
