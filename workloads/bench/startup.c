/* startup: exits 0 at once and prints nothing. Measures the cost of starting
 * and reaping a process on a backend. */
#include "workloads/runtime/rt.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  return 0;
}
