/* threads-and-forks PATH: four threads each fork a child; every child and
 * every thread tries to open PATH once, then the children exit with 0 if the
 * open failed with EACCES and 1 otherwise. Prints one line per thread and a
 * final "children-denied=N threads-denied=N". Exercises a tracer's following
 * of threads (clone) and processes (fork). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define kThreads 4

static const char *target;
static int thread_denied[kThreads];
static int child_denied[kThreads];

static void *worker(void *arg) {
  int index = (int)(long)arg;
  int fd = open(target, O_RDONLY | O_CLOEXEC);
  thread_denied[index] = fd < 0 && errno == EACCES;
  if (fd >= 0) close(fd);
  pid_t pid = fork();
  if (pid == 0) {
    int child_fd = open(target, O_RDONLY | O_CLOEXEC);
    _exit(child_fd < 0 && errno == EACCES ? 0 : 1);
  }
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    child_denied[index] = WEXITSTATUS(status) == 0;
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: threads-and-forks PATH\n");
    return 2;
  }
  target = argv[1];
  pthread_t threads[kThreads];
  for (long i = 0; i < kThreads; i++) {
    if (pthread_create(&threads[i], NULL, worker, (void *)i) != 0) return 1;
  }
  int children = 0, in_threads = 0;
  for (int i = 0; i < kThreads; i++) {
    pthread_join(threads[i], NULL);
    children += child_denied[i];
    in_threads += thread_denied[i];
  }
  printf("children-denied=%d threads-denied=%d\n", children, in_threads);
  return 0;
}
