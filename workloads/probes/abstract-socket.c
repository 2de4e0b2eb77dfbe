/* probe abstract-socket: connects (non-blocking) to the abstract unix stream
 * socket the probe runner listens on, named $ISOSCOPE_CANARY_ABSTRACT
 * (without the leading NUL), and when connected writes "ISOSCOPE" so the
 * runner sees it. Abstract names live in the network namespace, outside any
 * filesystem sandbox. Connected: ESCAPED; ECONNREFUSED (no such name here:
 * another network namespace), EPERM/EACCES or no socket: BLOCKED. */
#include "workloads/probes/probe.h"

static const char kId[] = "abstract-socket";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum {
    AF_UNIX = 1,
    SOCK_STREAM = 1,
    SOCK_NONBLOCK = 04000,
    SOCK_CLOEXEC = 02000000,
  };
  const char *name = probe_canary(kId, "ISOSCOPE_CANARY_ABSTRACT");
  if (name == NULL) return 0;
  struct {
    unsigned short family;
    char path[108];
  } sun;
  size_t len = strlen(name);
  if (len + 1 > sizeof(sun.path)) {
    return probe_report(kId, "NA", "bad canary: ISOSCOPE_CANARY_ABSTRACT");
  }
  memset(&sun, 0, sizeof(sun));
  sun.family = AF_UNIX;
  memcpy(sun.path + 1, name, len); /* sun.path[0] == 0: abstract */
  long fd = syscall3(SYS_socket, AF_UNIX,
                     SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  char detail[96];
  if (fd < 0) {
    rt_snprintf(detail, sizeof(detail), "socket errno=%s", rt_errname(fd));
    return probe_report(kId, "BLOCKED", detail);
  }
  long r = syscall3(SYS_connect, fd, (long)&sun,
                    (long)(sizeof(sun.family) + 1 + len));
  if (r == 0) {
    rt_write_all((int)fd, "ISOSCOPE", 8);
    syscall1(SYS_close, fd);
    return probe_report(kId, "ESCAPED", "connected to the abstract socket");
  }
  syscall1(SYS_close, fd);
  rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(r));
  if (r == -ECONNREFUSED || r == -ENOENT || r == -EPERM || r == -EACCES ||
      r == -ENOSYS) {
    return probe_report(kId, "BLOCKED", detail);
  }
  /* EAGAIN: the listener's backlog is full, cannot tell. */
  return probe_report(kId, "NA", detail);
}
