/* blocked-sockets MODE PORT [ARG]: socket calls that block (or fail) when
 * a sandbox performs them for the workload, listening on 127.0.0.1:PORT
 * itself. Every connect, sendto and sendmsg here names or goes to that
 * endpoint.
 * - full-send PORT HOLD_MS: one thread sends on a connection whose peer
 *   never reads until its send blocks; another then makes 50 UDP connects
 *   and prints "answered=N" (those that returned 0); the main thread sleeps
 *   HOLD_MS, prints "held" and exits.
 * - black-hole PORT HOLD_MS: the listener's accept queue is filled, so the
 *   next connect waits for a SYN-ACK that never comes (the kernel drops
 *   its SYNs); one thread makes that connect and prints "connect returned
 *   errno=E" when it returns; another thread prints "answered=N" as above;
 *   the main thread sleeps HOLD_MS, prints "connect pending" if the connect
 *   has not returned, and exits.
 * - dying-senders PORT ROUNDS: ROUNDS times, a child process sends on a
 *   connection whose peer never reads until its send blocks, and is
 *   killed; then a UDP connect, which must still be answered within 3 s;
 *   prints "rounds=R final=F" (F: the connect's result, or "timeout").
 * - sigpipe PORT: a thread with SIGPIPE blocked sends on a connection it
 *   shut for writing, with MSG_NOSIGNAL and then without; prints
 *   "nosignal=E pending=P signal=E pending=P handled_by_sender=H": the
 *   errnos, whether SIGPIPE was then pending for the thread, and whether,
 *   once unblocked, the handler ran on the sending thread (1) or another
 *   (0), as for the kernel's own thread-directed SIGPIPE.
 * - zerocopy PORT: sendto with MSG_ZEROCOPY without SO_ZEROCOPY, then with
 *   it; prints "plain=R zerocopy=R" (byte count or -errno).
 * - flags PORT: sendto with MSG_FASTOPEN on an unconnected socket (a
 *   connect and a send in one call), then sends with MSG_DONTWAIT until
 *   they fail; prints "fastopen=R received=N dontwait=E".
 * In full-send and black-hole, the answering thread first prints
 * "nonblocking=B": whether the blocked socket's file status flags (shared
 * with the workload) show O_NONBLOCK while its call waits. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

static unsigned short port;

static struct sockaddr_in endpoint(void) {
  struct sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return in;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* A TCP listener with small buffers and accept queue `backlog`. */
static int listener(int backlog) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in in = endpoint();
  int one = 1, small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof in) != 0 ||
      listen(fd, backlog) != 0) {
    die("listener");
  }
  return fd;
}

static int connected(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in in = endpoint();
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  if (fd < 0 || connect(fd, (struct sockaddr *)&in, sizeof in) != 0) {
    die("connect");
  }
  return fd;
}

static char payload[65536];

/* One blocking sendmsg of the whole payload: a performed call. */
static ssize_t send_payload(int fd, int flags) {
  struct iovec vector = {payload, sizeof payload};
  struct msghdr message;
  memset(&message, 0, sizeof message);
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  return sendmsg(fd, &message, flags);
}

static int udp_connect(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in in = endpoint();
  int rc = connect(fd, (struct sockaddr *)&in, sizeof in) == 0 ? 0 : errno;
  close(fd);
  return rc;
}

static void *forever_sender(void *arg) {
  int fd = *(int *)arg;
  for (;;) {
    if (send_payload(fd, 0) < 0) die("send");
  }
  return NULL;
}

/* The socket the other thread is blocked on, or -1. */
static atomic_int blocked_fd = -1;

static void *answered(void *arg) {
  (void)arg;
  sleep_ms(200); /* the other thread's call blocks first */
  int fd = atomic_load(&blocked_fd);
  if (fd >= 0) {
    /* The file status flags the workload shares with that call. */
    printf("nonblocking=%d\n", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    fflush(stdout);
  }
  int n = 0;
  for (int i = 0; i < 50; i++) n += udp_connect() == 0;
  printf("answered=%d\n", n);
  fflush(stdout);
  return NULL;
}

static atomic_int connect_returned;

static void *black_hole_connect(void *arg) {
  (void)arg;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in in = endpoint();
  atomic_store(&blocked_fd, fd);
  int rc = connect(fd, (struct sockaddr *)&in, sizeof in) == 0 ? 0 : errno;
  atomic_store(&connect_returned, 1);
  printf("connect returned errno=%d\n", rc);
  fflush(stdout);
  return NULL;
}

static int full_send(long hold_ms) {
  listener(8);
  int client = connected();
  atomic_store(&blocked_fd, client);
  pthread_t sender, other;
  pthread_create(&sender, NULL, forever_sender, &client);
  pthread_create(&other, NULL, answered, NULL);
  sleep_ms(hold_ms);
  printf("held\n");
  fflush(stdout);
  _exit(0);
}

static int black_hole(long hold_ms) {
  /* Backlog 1: two connections fill the accept queue (nobody accepts);
   * the kernel drops the SYNs of the next. */
  listener(1);
  connected();
  connected();
  sleep_ms(100);
  pthread_t connector, other;
  pthread_create(&connector, NULL, black_hole_connect, NULL);
  pthread_create(&other, NULL, answered, NULL);
  sleep_ms(hold_ms);
  if (!atomic_load(&connect_returned)) printf("connect pending\n");
  fflush(stdout);
  _exit(0);
}

static atomic_int final_result = -1;

static void *final_connect(void *arg) {
  (void)arg;
  atomic_store(&final_result, udp_connect());
  return NULL;
}

static int dying_senders(int rounds) {
  listener(64);
  for (int r = 0; r < rounds; r++) {
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
      int client = connected();
      for (;;) send_payload(client, 0);
    }
    sleep_ms(100); /* its send blocks */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  pthread_t final;
  pthread_create(&final, NULL, final_connect, NULL);
  for (int i = 0; i < 300 && atomic_load(&final_result) < 0; i++) sleep_ms(10);
  int final_rc = atomic_load(&final_result);
  if (final_rc < 0) {
    printf("rounds=%d final=timeout\n", rounds);
  } else {
    printf("rounds=%d final=%d\n", rounds, final_rc);
  }
  fflush(stdout);
  _exit(0);
}

static atomic_long handled_by;

static void on_sigpipe(int signal) {
  (void)signal;
  atomic_store(&handled_by, syscall(SYS_gettid));
}

static int pipe_pending(void) {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE);
}

static void *sigpipe_sender(void *arg) {
  int fd = *(int *)arg;
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
  shutdown(fd, SHUT_WR);
  int nosignal = send_payload(fd, MSG_NOSIGNAL) < 0 ? errno : 0;
  sleep_ms(100); /* a process-directed signal would reach the main thread */
  int pending_after_nosignal = pipe_pending();
  int signalled = send_payload(fd, 0) < 0 ? errno : 0;
  sleep_ms(100);
  int pending_after_signal = pipe_pending();
  pthread_sigmask(SIG_UNBLOCK, &pipe_set, NULL);
  long self = syscall(SYS_gettid);
  printf("nosignal=%d pending=%d signal=%d pending=%d handled_by_sender=%d\n",
         nosignal, pending_after_nosignal, signalled, pending_after_signal,
         atomic_load(&handled_by) == self);
  fflush(stdout);
  return NULL;
}

static int sigpipe_mode(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_sigpipe;
  sigemptyset(&action.sa_mask);
  sigaction(SIGPIPE, &action, NULL);
  listener(8);
  int client = connected();
  pthread_t sender;
  pthread_create(&sender, NULL, sigpipe_sender, &client);
  pthread_join(sender, NULL);
  return 0;
}

static long send_to(int fd, int flags) {
  struct sockaddr_in in = endpoint();
  ssize_t rc = sendto(fd, payload, 100, flags, (struct sockaddr *)&in,
                      sizeof in);
  return rc < 0 ? -errno : rc;
}

static int zerocopy(void) {
  listener(8);
  int client = connected();
  long plain = send_to(client, MSG_ZEROCOPY);
  int one = 1;
  if (setsockopt(client, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one) != 0) {
    die("SO_ZEROCOPY");
  }
  long zero = send_to(client, MSG_ZEROCOPY);
  printf("plain=%ld zerocopy=%ld\n", plain, zero);
  return 0;
}

/* sendto with MSG_FASTOPEN (connect and send in one call) on a fresh
 * socket, then sends with MSG_DONTWAIT until the buffers are full. */
static int flags_mode(void) {
  int server = listener(8);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  long fastopen = send_to(fd, MSG_FASTOPEN);
  int peer = accept4(server, NULL, NULL, SOCK_CLOEXEC);
  char received[101] = {0};
  ssize_t got = peer < 0 ? -1 : recv(peer, received, 100, MSG_WAITALL);
  int dontwait = 0;
  for (int i = 0; i < 10000 && dontwait == 0; i++) {
    if (send_payload(fd, MSG_DONTWAIT) < 0) dontwait = errno;
  }
  printf("fastopen=%ld received=%zd dontwait=%d\n", fastopen, got, dontwait);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: blocked-sockets MODE PORT [ARG]\n");
    return 2;
  }
  port = (unsigned short)atoi(argv[2]);
  long arg = argc > 3 ? atol(argv[3]) : 0;
  if (strcmp(argv[1], "full-send") == 0) return full_send(arg);
  if (strcmp(argv[1], "black-hole") == 0) return black_hole(arg);
  if (strcmp(argv[1], "dying-senders") == 0) return dying_senders((int)arg);
  if (strcmp(argv[1], "sigpipe") == 0) return sigpipe_mode();
  if (strcmp(argv[1], "zerocopy") == 0) return zerocopy();
  if (strcmp(argv[1], "flags") == 0) return flags_mode();
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
