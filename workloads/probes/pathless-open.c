/* probe pathless-open CASE: opens the secret canary
 * ($ISOSCOPE_CANARY_SECRET) by calls a sandbox's path rules may not see:
 *
 *   io-uring  io_uring_setup, the SQ and CQ rings and the SQE array
 *             mmapped by hand, one IORING_OP_OPENAT of the secret submitted
 *             with io_uring_enter (the open happens in the kernel's io_uring
 *             worker, not in a syscall with a path argument), then a read of
 *             the descriptor it returns
 *   handle    name_to_handle_at of the secret, then open_by_handle_at with
 *             each of: the secret's directory, "/", the cwd, any descriptor
 *             above 2 open at start, as the mount descriptor
 *
 * Read: ESCAPED (the runner confirms by the secret's access time); the
 * calls refused (EPERM, EACCES, ENOSYS, or a filter's kill): BLOCKED. Reads
 * 64 bytes at most and prints none. */
#include "workloads/probes/probe.h"

static struct probe_secret secret;

/* ---- io_uring ABI (linux/io_uring.h) ---- */
struct sqring_offsets {
  uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
  uint64_t user_addr;
};
struct cqring_offsets {
  uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
  uint64_t user_addr;
};
struct uring_params {
  uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle;
  uint32_t features, wq_fd, resv[3];
  struct sqring_offsets sq_off;
  struct cqring_offsets cq_off;
};
struct uring_sqe {
  uint8_t opcode;
  uint8_t flags;
  uint16_t ioprio;
  int32_t fd;
  uint64_t off;
  uint64_t addr;
  uint32_t len;
  uint32_t open_flags;
  uint64_t user_data;
  uint64_t pad[3];
};
struct uring_cqe {
  uint64_t user_data;
  int32_t res;
  uint32_t flags;
};
enum {
  IORING_OFF_SQ_RING = 0,
  IORING_OFF_CQ_RING = 0x8000000,
  IORING_OFF_SQES = 0x10000000,
  IORING_FEAT_SINGLE_MMAP = 1,
  IORING_ENTER_GETEVENTS = 1,
  IORING_OP_OPENAT = 18,
};

static long map_ring(long fd, size_t size, long offset) {
  return syscall6(SYS_mmap, 0, (long)size, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_POPULATE, fd, offset);
}

static int read_and_report(const char *id, long fd, const char *how) {
  char buf[64];
  long r;
  do {
    r = syscall3(SYS_read, fd, (long)buf, sizeof(buf));
  } while (r == -EINTR);
  syscall1(SYS_close, fd);
  char detail[160];
  if (r < 0) {
    rt_snprintf(detail, sizeof(detail), "%s: opened, read errno=%s", how,
                rt_errname(r));
    return probe_report(id, "REACHABLE", detail);
  }
  rt_snprintf(detail, sizeof(detail), "%s: read %ld bytes of the secret", how,
              r);
  return probe_report(id, "ESCAPED", detail);
}

static int case_io_uring(const char *id) {
  struct uring_params params;
  memset(&params, 0, sizeof(params));
  char detail[128];
  long ring = syscall2(SYS_io_uring_setup, 4, (long)&params);
  if (ring < 0) {
    rt_snprintf(detail, sizeof(detail), "io_uring_setup errno=%s",
                rt_errname(ring));
    return probe_report(id,
                        ring == -EPERM || ring == -EACCES || ring == -ENOSYS
                            ? "BLOCKED"
                            : "NA",
                        detail);
  }
  size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(uint32_t);
  size_t cq_size =
      params.cq_off.cqes + params.cq_entries * sizeof(struct uring_cqe);
  if (params.features & IORING_FEAT_SINGLE_MMAP) {
    if (cq_size > sq_size) sq_size = cq_size;
  }
  long sq = map_ring(ring, sq_size, IORING_OFF_SQ_RING);
  long cq = (params.features & IORING_FEAT_SINGLE_MMAP)
                ? sq
                : map_ring(ring, cq_size, IORING_OFF_CQ_RING);
  long sqes = map_ring(ring, params.sq_entries * sizeof(struct uring_sqe),
                       IORING_OFF_SQES);
  if (sq < 0 || cq < 0 || sqes < 0) {
    syscall1(SYS_close, ring);
    rt_snprintf(detail, sizeof(detail), "mmap of the rings errno=%s",
                rt_errname(sq < 0 ? sq : cq < 0 ? cq : sqes));
    return probe_report(id, "NA", detail);
  }
  struct uring_sqe *sqe = (struct uring_sqe *)sqes;
  memset(sqe, 0, sizeof(*sqe));
  sqe->opcode = IORING_OP_OPENAT;
  sqe->fd = AT_FDCWD;
  sqe->addr = (uint64_t)(uintptr_t)secret.path;
  sqe->open_flags = O_RDONLY | O_CLOEXEC;
  sqe->user_data = 0x150;
  volatile uint32_t *sq_tail = (uint32_t *)(sq + params.sq_off.tail);
  uint32_t *sq_array = (uint32_t *)(sq + params.sq_off.array);
  uint32_t mask = *(uint32_t *)(sq + params.sq_off.ring_mask);
  uint32_t tail = *sq_tail;
  sq_array[tail & mask] = 0;
  __asm__ volatile("" ::: "memory"); /* x86: stores stay in order */
  *sq_tail = tail + 1;
  long r = syscall6(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, 0,
                    0);
  if (r < 0) {
    syscall1(SYS_close, ring);
    rt_snprintf(detail, sizeof(detail), "io_uring_enter errno=%s",
                rt_errname(r));
    return probe_report(
        id, r == -EPERM || r == -EACCES || r == -ENOSYS ? "BLOCKED" : "NA",
        detail);
  }
  volatile uint32_t *cq_head = (uint32_t *)(cq + params.cq_off.head);
  volatile uint32_t *cq_tail = (uint32_t *)(cq + params.cq_off.tail);
  uint32_t cq_mask = *(uint32_t *)(cq + params.cq_off.ring_mask);
  if (*cq_head == *cq_tail) {
    syscall1(SYS_close, ring);
    return probe_report(id, "NA", "no completion after io_uring_enter");
  }
  struct uring_cqe *cqe =
      (struct uring_cqe *)(cq + params.cq_off.cqes) + (*cq_head & cq_mask);
  long res = cqe->res;
  *cq_head = *cq_head + 1;
  syscall1(SYS_close, ring);
  if (res < 0) {
    rt_snprintf(detail, sizeof(detail), "IORING_OP_OPENAT res=%s",
                rt_errname(res));
    return probe_report(id, probe_path_refused(res) ? "BLOCKED" : "NA",
                        detail);
  }
  return read_and_report(id, res, "IORING_OP_OPENAT");
}

struct file_handle_ {
  uint32_t handle_bytes;
  int handle_type;
  unsigned char f_handle[128];
};

static int case_handle(const char *id) {
  struct file_handle_ handle;
  memset(&handle, 0, sizeof(handle));
  handle.handle_bytes = sizeof(handle.f_handle);
  int mount_id = 0;
  char detail[160];
  long r = syscall5(SYS_name_to_handle_at, AT_FDCWD, (long)secret.path,
                    (long)&handle, (long)&mount_id, 0);
  if (r != 0) {
    rt_snprintf(detail, sizeof(detail), "name_to_handle_at errno=%s",
                rt_errname(r));
    return probe_report(id, probe_path_refused(r) || r == -EOPNOTSUPP
                                ? "BLOCKED"
                                : "NA",
                        detail);
  }
  /* Mount descriptors to try: the secret's directory, "/", the cwd, and
   * whatever is open at start above 2. */
  long mounts[8];
  const char *labels[8];
  int n = 0;
  long dir = syscall3(SYS_open, (long)secret.dir, O_RDONLY | O_DIRECTORY, 0);
  if (dir >= 0) {
    mounts[n] = dir;
    labels[n++] = "secret dir";
  }
  long root = syscall3(SYS_open, (long)"/", O_RDONLY | O_DIRECTORY, 0);
  if (root >= 0) {
    mounts[n] = root;
    labels[n++] = "/";
  }
  mounts[n] = AT_FDCWD;
  labels[n++] = "cwd";
  for (long fd = 3; fd < 64 && n < 8; fd++) {
    struct probe_stat st;
    if (fd != dir && fd != root && syscall2(SYS_fstat, fd, (long)&st) == 0) {
      mounts[n] = fd;
      labels[n++] = "inherited fd";
    }
  }
  struct probe_tally t = {0};
  char note[96];
  int result = -1;
  for (int i = 0; i < n && result < 0; i++) {
    long fd = syscall3(SYS_open_by_handle_at, mounts[i], (long)&handle,
                       O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      rt_snprintf(note, sizeof(note), "open_by_handle_at(%s)", labels[i]);
      result = read_and_report(id, fd, note);
      break;
    }
    rt_snprintf(note, sizeof(note), "open_by_handle_at(%s): errno=%s",
                labels[i], rt_errname(fd));
    probe_tally_add(&t,
                    fd == -EPERM || fd == -EACCES || fd == -ENOSYS ||
                            fd == -ESTALE || fd == -EXDEV
                        ? "BLOCKED"
                        : "NA",
                    note);
  }
  if (dir >= 0) syscall1(SYS_close, dir);
  if (root >= 0) syscall1(SYS_close, root);
  if (result >= 0) return result;
  return probe_tally_report(id, &t);
}

static const struct probe_case kCases[] = {
    {"io-uring", case_io_uring},
    {"handle", case_handle},
};

static int setup(const char *id) { return probe_secret_canary(id, &secret); }

int main(int argc, char **argv, char **envp) {
  (void)envp;
  return probe_run_case("pathless-open", argc, argv, kCases,
                        sizeof(kCases) / sizeof(kCases[0]), setup);
}
