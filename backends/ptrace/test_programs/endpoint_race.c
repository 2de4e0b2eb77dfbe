/* endpoint-race ALLOWED REFUSED MODE [MILLISECONDS]: listens on
 * 127.0.0.1:ALLOWED and 127.0.0.1:REFUSED (TCP and UDP), then
 * - MODE once: connect, sendto and sendmsg to each port, and bind of a
 *   fresh socket to 127.0.0.1:REFUSED+1; prints
 *   "connect=A/R sendto=A/R sendmsg=A/R bind=B" (0 or the errno of each);
 * - MODE race-connect or race-sendmsg: one thread keeps flipping the port
 *   of a shared sockaddr between ALLOWED and REFUSED while the main thread
 *   connects (TCP) or sends (UDP, sendmsg) to whatever it holds, for
 *   MILLISECONDS; prints "ok=N refused=N reached=N", reached counting what
 *   arrived on the REFUSED port: a sandbox that checked one address and
 *   let the kernel use another;
 * - MODE mem-connect or mem-sendmsg: the same, but the sockaddr stays
 *   ALLOWED and the thread writes REFUSED over every copy of it it finds
 *   in the ptrace backend's read-only scratch region (0x10000), through
 *   /proc/self/mem (whose forced writes go through a private read-only
 *   page); prints "ok=N refused=N reached=N written=N", written counting
 *   the writes the kernel took;
 * - MODE routes: routes around a listed address (issue 17): setsockopt of
 *   IP_OPTIONS with a loose source route, IPV6_RTHDR with a segment
 *   routing header, IPV6_FLOWLABEL_MGR; sendmsg to ALLOWED with an
 *   IP_RETOPTS control message, one of an unknown type, and with IP_TTL
 *   and IP_PKTINFO; prints "ip_options=E rthdr=E flowlabel=E retopts=E
 *   unknown=E ttl=E pktinfo=E arrived=N" (0 or the errno of each, "none"
 *   where the host makes no IPv6 socket; N datagrams ALLOWED received);
 * - MODE race-control: one thread keeps flipping the type of a sendmsg
 *   control message between IP_TTL and IP_RETOPTS (4 bytes that are TTL 1
 *   and a valid no-op option list alike) while the main thread sends to
 *   ALLOWED with it, for MILLISECONDS; prints "ok=N refused=N reached=N",
 *   reached counting datagrams that arrived with IP options. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in shared;
static unsigned short ports[2];
static atomic_int stop;

static void *flipper(void *arg) {
  (void)arg;
  volatile unsigned short *port = &shared.sin_port;
  for (unsigned i = 0; !atomic_load_explicit(&stop, memory_order_relaxed);
       i++) {
    *port = htons(ports[i & 1]);
  }
  return NULL;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in loopback(unsigned short port) {
  struct sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return in;
}

enum { kScratchBegin = 0x10000, kScratchSize = 0x180000 };
static atomic_long mem_writes;

static void *mem_writer(void *arg) {
  (void)arg;
  int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  if (mem < 0) {
    perror("open /proc/self/mem");
    exit(1);
  }
  const struct sockaddr_in listed = loopback(ports[0]);
  const unsigned short refused = htons(ports[1]);
  static char region[kScratchSize];
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    /* Read through the handle: the region may not be mapped yet. */
    if (pread(mem, region, sizeof region, kScratchBegin) <= 0) continue;
    for (size_t i = 0; i + sizeof listed <= sizeof region; i += 8) {
      if (memcmp(region + i, &listed, sizeof listed) != 0) continue;
      off_t port = (off_t)(kScratchBegin + i +
                           offsetof(struct sockaddr_in, sin_port));
      for (int n = 0; n < 10000; n++) {
        if (pwrite(mem, &refused, sizeof refused, port) == sizeof refused) {
          atomic_fetch_add(&mem_writes, 1);
        }
      }
    }
  }
  close(mem);
  return NULL;
}

static int listener(int type, unsigned short port) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in in = loopback(port);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof in) != 0 ||
      (type == SOCK_STREAM && listen(fd, 4096) != 0)) {
    perror("listener");
    exit(1);
  }
  return fd;
}

/* Connections or datagrams waiting on `fd`, taken. */
static long drain(int fd, int type) {
  long n = 0;
  char byte;
  for (;;) {
    if (type == SOCK_STREAM) {
      int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
      if (c < 0) break;
      close(c);
    } else if (recv(fd, &byte, 1, MSG_DONTWAIT) < 0) {
      break;
    }
    n++;
  }
  return n;
}

static int connect_to(const struct sockaddr_in *to) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = connect(fd, (const struct sockaddr *)to, sizeof *to) == 0 ? 0 : errno;
  close(fd);
  return rc;
}

static int sendmsg_to(int fd, struct sockaddr_in *to) {
  char byte = 'x';
  struct iovec iov = {&byte, 1};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = to;
  msg.msg_namelen = sizeof *to;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  return sendmsg(fd, &msg, 0) == 1 ? 0 : errno;
}

/* A control buffer of one message of 4 bytes of data (an int). */
union control {
  struct cmsghdr align;
  char bytes[CMSG_SPACE(sizeof(int))];
};
static union control race_control;

static void *control_flipper(void *arg) {
  (void)arg;
  volatile int *type = &((struct cmsghdr *)race_control.bytes)->cmsg_type;
  for (unsigned i = 0; !atomic_load_explicit(&stop, memory_order_relaxed);
       i++) {
    *type = (i & 1) ? IP_RETOPTS : IP_TTL;
  }
  return NULL;
}

/* sendmsg of one byte to `to` with `control_length` bytes of `control`. */
static int sendmsg_control(int fd, struct sockaddr_in *to, void *control,
                           size_t control_length) {
  char byte = 'x';
  struct iovec iov = {&byte, 1};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = to;
  msg.msg_namelen = sizeof *to;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = control_length;
  return sendmsg(fd, &msg, 0) == 1 ? 0 : errno;
}

/* One control message of `level` and `type` with `data` of `length`. */
static int sendmsg_one(int fd, struct sockaddr_in *to, int level, int type,
                       const void *data, size_t length) {
  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(64)];
  } control;
  memset(&control, 0, sizeof control);
  struct cmsghdr *header = (struct cmsghdr *)control.bytes;
  header->cmsg_level = level;
  header->cmsg_type = type;
  header->cmsg_len = CMSG_LEN(length);
  memcpy(CMSG_DATA(header), data, length);
  return sendmsg_control(fd, to, control.bytes, CMSG_SPACE(length));
}

/* Datagrams waiting on `fd` that arrived with IP options, taken. */
static long drain_with_options(int fd) {
  long n = 0;
  for (;;) {
    char byte;
    struct iovec iov = {&byte, 1};
    union {
      struct cmsghdr align;
      char bytes[256];
    } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    if (recvmsg(fd, &msg, MSG_DONTWAIT) < 0) break;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVOPTS) n++;
    }
  }
  return n;
}

static void print_errno(const char *name, int rc) { printf("%s=%d ", name, rc); }

static int routes(unsigned short allowed, int udp_in) {
  struct sockaddr_in to = loopback(allowed);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  /* NOP, then LSRR through 127.0.0.2 on the way to the call's address. */
  const unsigned char lsrr[8] = {IPOPT_NOP, IPOPT_LSRR, 7, 4, 127, 0, 0, 2};
  print_errno("ip_options",
              setsockopt(fd, IPPROTO_IP, IP_OPTIONS, lsrr, sizeof lsrr) == 0
                  ? 0
                  : errno);
  close(fd);
  int fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd6 < 0) {
    printf("rthdr=none flowlabel=none ");
  } else {
    /* A segment routing header (type 4) through ::2 and ::1. */
    unsigned char srh[40] = {0, 4, 4, 1, 1, 0, 0, 0};
    srh[8 + 15] = 2;
    srh[24 + 15] = 1;
    print_errno("rthdr", setsockopt(fd6, IPPROTO_IPV6, IPV6_RTHDR, srh,
                                    sizeof srh) == 0
                             ? 0
                             : errno);
    unsigned char request[32] = {0};
    print_errno("flowlabel", setsockopt(fd6, IPPROTO_IPV6, 32, request,
                                        sizeof request) == 0
                                 ? 0
                                 : errno);
    close(fd6);
  }
  int sender = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const unsigned char options[4] = {IPOPT_NOP, IPOPT_END, IPOPT_END,
                                    IPOPT_END};
  print_errno("retopts", sendmsg_one(sender, &to, IPPROTO_IP, IP_RETOPTS,
                                     options, sizeof options));
  const int value = 1;
  print_errno("unknown", sendmsg_one(sender, &to, IPPROTO_IP, 200, &value,
                                     sizeof value));
  const int ttl = 7;
  print_errno("ttl",
              sendmsg_one(sender, &to, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl));
  struct in_pktinfo info;
  memset(&info, 0, sizeof info);
  info.ipi_spec_dst.s_addr = htonl(INADDR_LOOPBACK);
  print_errno("pktinfo", sendmsg_one(sender, &to, IPPROTO_IP, IP_PKTINFO,
                                     &info, sizeof info));
  usleep(10000);
  printf("arrived=%ld\n", drain(udp_in, SOCK_DGRAM));
  return 0;
}

static int race_control_messages(unsigned short allowed, int udp_in,
                                 long long milliseconds) {
  int one = 1;
  if (setsockopt(udp_in, IPPROTO_IP, IP_RECVOPTS, &one, sizeof one) != 0) {
    perror("IP_RECVOPTS");
    return 1;
  }
  struct sockaddr_in to = loopback(allowed);
  struct cmsghdr *header = (struct cmsghdr *)race_control.bytes;
  header->cmsg_level = IPPROTO_IP;
  header->cmsg_type = IP_TTL;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  /* TTL 1; as IP options: NOP, END, END, END. */
  const unsigned char data[4] = {IPOPT_NOP, IPOPT_END, IPOPT_END, IPOPT_END};
  memcpy(CMSG_DATA(header), data, sizeof data);
  int sender = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  long long until = now_ms() + milliseconds;
  pthread_t thread;
  if (pthread_create(&thread, NULL, control_flipper, NULL) != 0) return 1;
  long ok = 0, refused = 0, reached = 0;
  while (now_ms() < until) {
    int rc = sendmsg_control(sender, &to, race_control.bytes,
                             sizeof race_control.bytes);
    if (rc == 0) {
      ok++;
    } else if (rc == EACCES) {
      refused++;
    } else {
      fprintf(stderr, "unexpected errno %d\n", rc);
      return 1;
    }
    reached += drain_with_options(udp_in);
  }
  atomic_store(&stop, 1);
  pthread_join(thread, NULL);
  usleep(10000);
  reached += drain_with_options(udp_in);
  printf("ok=%ld refused=%ld reached=%ld\n", ok, refused, reached);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: endpoint-race ALLOWED REFUSED MODE [MS]\n");
    return 2;
  }
  ports[0] = (unsigned short)atoi(argv[1]);
  ports[1] = (unsigned short)atoi(argv[2]);
  const char *mode = argv[3];
  int tcp[2] = {listener(SOCK_STREAM, ports[0]),
                listener(SOCK_STREAM, ports[1])};
  int udp[2] = {listener(SOCK_DGRAM, ports[0]), listener(SOCK_DGRAM, ports[1])};
  int sender = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (strcmp(mode, "once") == 0) {
    struct sockaddr_in to[2] = {loopback(ports[0]), loopback(ports[1])};
    int sent[2];
    for (int i = 0; i < 2; i++) {
      sent[i] = sendto(sender, "x", 1, 0, (struct sockaddr *)&to[i],
                       sizeof to[i]) == 1
                    ? 0
                    : errno;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in own = loopback((unsigned short)(ports[1] + 1));
    int bound = bind(fd, (struct sockaddr *)&own, sizeof own) == 0 ? 0 : errno;
    printf("connect=%d/%d sendto=%d/%d sendmsg=%d/%d bind=%d\n",
           connect_to(&to[0]), connect_to(&to[1]), sent[0], sent[1],
           sendmsg_to(sender, &to[0]), sendmsg_to(sender, &to[1]), bound);
    return 0;
  }
  if (strcmp(mode, "routes") == 0) return routes(ports[0], udp[0]);
  if (strcmp(mode, "race-control") == 0) {
    return race_control_messages(ports[0], udp[0],
                                 argc > 4 ? atoll(argv[4]) : 1000);
  }
  const int through_memory = strncmp(mode, "mem-", 4) == 0;
  const char *kind = mode + (through_memory ? 4 : 5);
  if (!through_memory && strncmp(mode, "race-", 5) != 0) return 2;
  const int stream = strcmp(kind, "connect") == 0;
  if (!stream && strcmp(kind, "sendmsg") != 0) return 2;
  shared = loopback(ports[0]);
  long long until = now_ms() + (argc > 4 ? atoll(argv[4]) : 1000);
  pthread_t thread;
  if (pthread_create(&thread, NULL, through_memory ? mem_writer : flipper,
                     NULL) != 0) {
    return 1;
  }
  long ok = 0, refused = 0, reached = 0;
  const int type = stream ? SOCK_STREAM : SOCK_DGRAM;
  int *in = stream ? tcp : udp;
  while (now_ms() < until) {
    int rc = stream ? connect_to(&shared) : sendmsg_to(sender, &shared);
    if (rc == 0) {
      ok++;
    } else if (rc == EACCES) {
      refused++;
    } else {
      fprintf(stderr, "unexpected errno %d\n", rc);
      return 1;
    }
    drain(in[0], type);
    reached += drain(in[1], type);
  }
  atomic_store(&stop, 1);
  pthread_join(thread, NULL);
  usleep(10000);
  reached += drain(in[1], type);
  printf("ok=%ld refused=%ld reached=%ld", ok, refused, reached);
  if (through_memory) printf(" written=%ld", atomic_load(&mem_writes));
  printf("\n");
  return 0;
}
