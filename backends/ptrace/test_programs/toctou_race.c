/* toctou-race ALLOWED FORBIDDEN MILLISECONDS: one thread keeps flipping a
 * shared path buffer between ALLOWED and FORBIDDEN while the main thread
 * opens whatever the buffer holds, in a loop. Each open that succeeds is
 * read: a file starting with "forbidden" means the sandbox checked one path
 * and opened another. Prints "opens=N denied=N forbidden=N". */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char path[4096];
static const char *paths[2];
static atomic_int stop;

static void *flipper(void *arg) {
  (void)arg;
  size_t lengths[2] = {strlen(paths[0]), strlen(paths[1])};
  for (unsigned i = 0; !atomic_load_explicit(&stop, memory_order_relaxed);
       i++) {
    const char *next = paths[i & 1];
    /* Byte by byte through a volatile pointer: the open sees every mix. */
    volatile char *p = path;
    for (size_t j = 0; j <= lengths[i & 1]; j++) p[j] = next[j];
  }
  return NULL;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: toctou-race ALLOWED FORBIDDEN MILLISECONDS\n");
    return 2;
  }
  paths[0] = argv[1];
  paths[1] = argv[2];
  strcpy(path, argv[1]);
  long long until = now_ms() + atoll(argv[3]);
  pthread_t thread;
  if (pthread_create(&thread, NULL, flipper, NULL) != 0) return 1;
  long opens = 0, denied = 0, forbidden = 0;
  while (now_ms() < until) {
    int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      denied++;
      continue;
    }
    opens++;
    char head[16] = {0};
    if (read(fd, head, sizeof head - 1) > 0 &&
        strncmp(head, "forbidden", 9) == 0) {
      forbidden++;
    }
    close(fd);
  }
  atomic_store(&stop, 1);
  pthread_join(thread, NULL);
  printf("opens=%ld denied=%ld forbidden=%ld\n", opens, denied, forbidden);
  return 0;
}
