/* forks-under-signals: forks 300 short-lived children while the earlier
 * ones' SIGCHLD arrive, with a SIGCHLD handler installed without SA_RESTART
 * (as dash does). fork never fails with EINTR; a tracer that lets a signal
 * interrupt its decision on a fork would make it. Prints "forks ok" or the
 * first failure. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_child(int signal_number) { (void)signal_number; }

int main(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_child;
  sigaction(SIGCHLD, &action, NULL);
  for (int i = 0; i < 300; ++i) {
    pid_t child = fork();
    if (child < 0) {
      printf("fork %d failed: %s\n", i, strerror(errno));
      return 1;
    }
    if (child == 0) {
      usleep(500);
      _exit(0);
    }
  }
  while (wait(NULL) > 0 || errno == EINTR) {
  }
  puts("forks ok");
  return 0;
}
