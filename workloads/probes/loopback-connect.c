/* probe loopback-connect: connects to the TCP listener the probe runner
 * holds on 127.0.0.1:$ISOSCOPE_CANARY_TCP_PORT (non-blocking, gives up after
 * 5 s) and, when connected, writes the 8 bytes "ISOSCOPE" so the runner sees
 * it, then closes. Connected: ESCAPED; refused, unreachable (another network
 * namespace), timed out, EPERM/EACCES (a filter or firewall) or no socket:
 * BLOCKED. */
#include "workloads/probes/probe.h"

static const char kId[] = "loopback-connect";

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum {
    AF_INET = 2,
    SOCK_STREAM = 1,
    SOCK_NONBLOCK = 04000,
    SOCK_CLOEXEC = 02000000,
    SOL_SOCKET = 1,
    SO_ERROR = 4,
    POLLOUT = 4,
  };
  int64_t port;
  if (probe_canary_number(kId, "ISOSCOPE_CANARY_TCP_PORT", 1, 65535, &port) !=
      0) {
    return 0;
  }
  long fd = syscall3(SYS_socket, AF_INET,
                     SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  char detail[96];
  if (fd < 0) {
    rt_snprintf(detail, sizeof(detail), "socket errno=%s", rt_errname(fd));
    return probe_report(kId, "BLOCKED", detail);
  }
  struct {
    unsigned short family;
    uint8_t port_be[2];
    uint8_t addr[4];
    uint8_t zero[8];
  } sin = {AF_INET, {(uint8_t)(port >> 8), (uint8_t)port}, {127, 0, 0, 1}, {0}};
  long r = syscall3(SYS_connect, fd, (long)&sin, sizeof(sin));
  if (r == -EINPROGRESS) {
    struct {
      int fd;
      short events;
      short revents;
    } pfd = {(int)fd, POLLOUT, 0};
    do {
      r = syscall3(SYS_poll, (long)&pfd, 1, 5000);
    } while (r == -EINTR);
    if (r == 0) {
      r = -ETIMEDOUT;
    } else if (r > 0) {
      int err = 0;
      int len = sizeof(err);
      r = syscall5(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, (long)&err,
                   (long)&len);
      if (r == 0) r = -err;
    }
  }
  if (r == 0) {
    rt_write_all((int)fd, "ISOSCOPE", 8);
    syscall1(SYS_close, fd);
    rt_snprintf(detail, sizeof(detail), "connected to 127.0.0.1:%ld", port);
    return probe_report(kId, "ESCAPED", detail);
  }
  syscall1(SYS_close, fd);
  rt_snprintf(detail, sizeof(detail), "errno=%s", rt_errname(r));
  if (r == -ECONNREFUSED || r == -ENETUNREACH || r == -EHOSTUNREACH ||
      r == -ETIMEDOUT || r == -EPERM || r == -EACCES || r == -ENOSYS) {
    return probe_report(kId, "BLOCKED", detail);
  }
  return probe_report(kId, "NA", detail);
}
