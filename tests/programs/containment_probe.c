// containment_test's helper (glibc): one act per subcommand, one line of
// result per act ("NAME=OK" or "NAME=<errno name>"), exit 0; 2 on bad use.
//   handle PATH        name_to_handle_at + open_by_handle_at of PATH
//   link SOURCE TARGET link(2)
//   connect IP PORT    a TCP connect (2 s at most), then reads a line
//   loopback           a TCP listener on 127.0.0.1 and a connect to it
//   serve IP PORT      answers "hello" to every connection until killed;
//                      prints "listening" once it listens
//   kill PID...        SIGKILL to each
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void Result(const char* name, int ok) {
  printf("%s=%s\n", name, ok ? "OK" : strerrorname_np(errno));
  fflush(stdout);
}

static int Handle(const char* path) {
  struct {
    struct file_handle handle;
    unsigned char bytes[MAX_HANDLE_SZ];
  } h;
  h.handle.handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  int ok = name_to_handle_at(AT_FDCWD, path, &h.handle, &mount_id, 0) == 0;
  Result("name_to_handle_at", ok);
  if (!ok) return 0;
  int mount_fd = open("/", O_RDONLY | O_DIRECTORY);
  int fd = open_by_handle_at(mount_fd, &h.handle, O_RDONLY);
  Result("open_by_handle_at", fd >= 0);
  return 0;
}

static int Address(const char* ip, const char* port, struct sockaddr_in* a) {
  memset(a, 0, sizeof *a);
  a->sin_family = AF_INET;
  a->sin_port = htons((unsigned short)atoi(port));
  return inet_pton(AF_INET, ip, &a->sin_addr) == 1;
}

static int Connect(const char* ip, const char* port) {
  struct sockaddr_in a;
  if (!Address(ip, port, &a)) return 2;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    Result("socket", 0);
    return 0;
  }
  int r = connect(fd, (struct sockaddr*)&a, sizeof a);
  if (r != 0 && errno == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, 2000) == 1) {
      int error = 0;
      socklen_t len = sizeof error;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
      errno = error;
      r = error == 0 ? 0 : -1;
    } else {
      errno = ETIMEDOUT;
    }
  }
  Result("connect", r == 0);
  if (r == 0) {
    char line[64] = {0};
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 2000) == 1 && read(fd, line, sizeof line - 1) > 0) {
      printf("reply=%s", line);
    }
  }
  return 0;
}

static int Loopback(void) {
  int server = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  Address("127.0.0.1", "0", &a);
  socklen_t len = sizeof a;
  if (server < 0 || bind(server, (struct sockaddr*)&a, sizeof a) != 0 ||
      listen(server, 1) != 0 ||
      getsockname(server, (struct sockaddr*)&a, &len) != 0) {
    Result("loopback", 0);
    return 0;
  }
  int client = socket(AF_INET, SOCK_STREAM, 0);
  Result("loopback", connect(client, (struct sockaddr*)&a, sizeof a) == 0);
  return 0;
}

static int Serve(const char* ip, const char* port) {
  struct sockaddr_in a;
  if (!Address(ip, port, &a)) return 2;
  int server = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(server, (struct sockaddr*)&a, sizeof a) != 0 ||
      listen(server, 8) != 0) {
    Result("listen", 0);
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  while (1) {
    int client = accept(server, NULL, NULL);
    if (client < 0) continue;
    if (write(client, "hello\n", 6) != 6) perror("write");
    close(client);
  }
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "handle") == 0) return Handle(argv[2]);
  if (argc == 4 && strcmp(argv[1], "link") == 0) {
    Result("link", link(argv[2], argv[3]) == 0);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "connect") == 0) {
    return Connect(argv[2], argv[3]);
  }
  if (argc == 2 && strcmp(argv[1], "loopback") == 0) return Loopback();
  if (argc == 4 && strcmp(argv[1], "serve") == 0) return Serve(argv[2], argv[3]);
  if (argc >= 3 && strcmp(argv[1], "kill") == 0) {
    for (int i = 2; i < argc; ++i) {
      char name[64];
      snprintf(name, sizeof name, "kill %s", argv[i]);
      Result(name, kill((pid_t)atol(argv[i]), SIGKILL) == 0);
    }
    return 0;
  }
  fprintf(stderr, "usage: see the top of containment_probe.c\n");
  return 2;
}
