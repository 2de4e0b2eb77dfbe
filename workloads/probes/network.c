/* probe network CASE: reaches a TCP listener of the probe runner's outside
 * the sandbox, by every way of addressing it that a check on the socket
 * address could miss:
 *
 *   loopback     127.0.0.1:$ISOSCOPE_CANARY_TCP_PORT
 *   nonloopback  $ISOSCOPE_CANARY_NET_ADDR:$ISOSCOPE_CANARY_NET_PORT, an
 *                address that exists only on this machine (a veth pair
 *                into a network namespace the runner made), never an
 *                outside one
 *
 * Each tries connect over AF_INET, connect over AF_INET6 to the IPv4-mapped
 * address (::ffff:a.b.c.d), and sendto with MSG_FASTOPEN on an unconnected
 * AF_INET socket (which connects without calling connect). Non-blocking,
 * 2 s per attempt; connected: writes "ISOSCOPE" and closes. Any connected:
 * ESCAPED (the runner also sees the connection); refused, unreachable,
 * timed out, EPERM/EACCES, no socket: BLOCKED. */
#include "workloads/probes/probe.h"

enum {
  AF_INET = 2,
  AF_INET6 = 10,
  SOCK_STREAM = 1,
  SOCK_NONBLOCK = 04000,
  SOCK_CLOEXEC = 02000000,
  SOL_SOCKET = 1,
  SO_ERROR = 4,
  POLLOUT = 4,
  MSG_FASTOPEN = 0x20000000,
  kTimeoutMs = 2000,
};

struct sockaddr_in_ {
  unsigned short family;
  uint8_t port_be[2];
  uint8_t addr[4];
  uint8_t zero[8];
};
struct sockaddr_in6_ {
  unsigned short family;
  uint8_t port_be[2];
  uint32_t flowinfo;
  uint8_t addr[16];
  uint32_t scope_id;
};

static uint8_t addr[4];
static long port;

/* "a.b.c.d" into out; 0 or -1. */
static int parse_ipv4(const char *s, uint8_t out[4]) {
  for (int i = 0; i < 4; i++) {
    long v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
      v = v * 10 + (*s++ - '0');
      digits++;
    }
    if (digits == 0 || v > 255) return -1;
    out[i] = (uint8_t)v;
    if (i < 3 && *s++ != '.') return -1;
  }
  return *s == 0 ? 0 : -1;
}

/* Waits for a non-blocking connect; 0 when connected, else -errno. */
static long finish_connect(long fd, long r) {
  if (r != -EINPROGRESS) return r;
  struct {
    int fd;
    short events;
    short revents;
  } pfd = {(int)fd, POLLOUT, 0};
  do {
    r = syscall3(SYS_poll, (long)&pfd, 1, kTimeoutMs);
  } while (r == -EINTR);
  if (r == 0) return -ETIMEDOUT;
  if (r < 0) return r;
  int err = 0;
  int len = sizeof(err);
  r = syscall5(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, (long)&err,
               (long)&len);
  return r == 0 ? -err : r;
}

/* One way of reaching addr:port. `how`: 0 connect AF_INET, 1 connect
 * AF_INET6 mapped, 2 sendto MSG_FASTOPEN. */
static void attempt(struct probe_tally *t, int how) {
  static const char *const kLabels[] = {"connect AF_INET",
                                        "connect AF_INET6 ::ffff:mapped",
                                        "sendto MSG_FASTOPEN"};
  char note[128];
  long fd = syscall3(SYS_socket, how == 1 ? AF_INET6 : AF_INET,
                     SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    rt_snprintf(note, sizeof(note), "%s: socket errno=%s", kLabels[how],
                rt_errname(fd));
    probe_tally_add(t, "BLOCKED", note);
    return;
  }
  struct sockaddr_in_ sin = {
      AF_INET, {(uint8_t)(port >> 8), (uint8_t)port}, {0}, {0}};
  memcpy(sin.addr, addr, 4);
  struct sockaddr_in6_ sin6 = {
      AF_INET6, {(uint8_t)(port >> 8), (uint8_t)port}, 0, {0}, 0};
  sin6.addr[10] = 0xff;
  sin6.addr[11] = 0xff;
  memcpy(sin6.addr + 12, addr, 4);
  long r;
  if (how == 0) {
    r = syscall3(SYS_connect, fd, (long)&sin, sizeof(sin));
  } else if (how == 1) {
    r = syscall3(SYS_connect, fd, (long)&sin6, sizeof(sin6));
  } else {
    r = syscall6(SYS_sendto, fd, (long)"ISOSCOPE", 8, MSG_FASTOPEN, (long)&sin,
                 sizeof(sin));
    if (r == 8) r = 0;
  }
  r = finish_connect(fd, r);
  if (r == 0) {
    if (how != 2) rt_write_all((int)fd, "ISOSCOPE", 8);
    rt_snprintf(note, sizeof(note), "%s: connected", kLabels[how]);
    probe_tally_add(t, "ESCAPED", note);
  } else {
    rt_snprintf(note, sizeof(note), "%s: errno=%s", kLabels[how],
                rt_errname(r));
    probe_tally_add(t,
                    r == -ECONNREFUSED || r == -ENETUNREACH ||
                            r == -EHOSTUNREACH || r == -ETIMEDOUT ||
                            r == -EPERM || r == -EACCES || r == -ENOSYS ||
                            r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL
                        ? "BLOCKED"
                        : "NA",
                    note);
  }
  syscall1(SYS_close, fd);
}

static int reach(const char *id) {
  struct probe_tally t = {0};
  for (int how = 0; how < 3; how++) attempt(&t, how);
  return probe_tally_report(id, &t);
}

static int case_loopback(const char *id) {
  int64_t value;
  if (probe_canary_number(id, "ISOSCOPE_CANARY_TCP_PORT", 1, 65535, &value) !=
      0) {
    return 0;
  }
  port = (long)value;
  addr[0] = 127;
  addr[3] = 1;
  return reach(id);
}

static int case_nonloopback(const char *id) {
  int64_t value;
  if (probe_canary_number(id, "ISOSCOPE_CANARY_NET_PORT", 1, 65535, &value) !=
      0) {
    return 0;
  }
  port = (long)value;
  const char *text = probe_canary(id, "ISOSCOPE_CANARY_NET_ADDR");
  if (text == NULL) return 0;
  /* Never loopback, unspecified, multicast or broadcast. */
  if (parse_ipv4(text, addr) != 0 || addr[0] == 127 || addr[0] == 0 ||
      addr[0] >= 224) {
    return probe_report(id, "NA", "bad canary: ISOSCOPE_CANARY_NET_ADDR");
  }
  return reach(id);
}

static const struct probe_case kCases[] = {
    {"loopback", case_loopback},
    {"nonloopback", case_nonloopback},
};

int main(int argc, char **argv, char **envp) {
  (void)envp;
  return probe_run_case("network", argc, argv, kCases,
                        sizeof(kCases) / sizeof(kCases[0]), NULL);
}
