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
 *   the writes the kernel took. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <netinet/in.h>
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
