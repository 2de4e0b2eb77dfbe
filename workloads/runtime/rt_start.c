/* Start-up and process-level helpers. */
#include "workloads/runtime/rt.h"

int rt_argc;
char **rt_argv;
char **rt_envp;
unsigned long *rt_auxv;

__attribute__((noreturn, used)) void rt_start_c(long *sp);

void rt_start_c(long *sp) {
  rt_argc = (int)sp[0];
  rt_argv = (char **)(sp + 1);
  rt_envp = rt_argv + rt_argc + 1;
  char **e = rt_envp;
  while (*e != NULL) e++;
  rt_auxv = (unsigned long *)(e + 1);
  rt_exit(main(rt_argc, rt_argv, rt_envp));
}

void rt_exit(int status) {
  for (;;) syscall1(SYS_exit_group, status);
}

const char *rt_getenv(const char *name) {
  size_t n = strlen(name);
  for (char **e = rt_envp; e != NULL && *e != NULL; e++) {
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  }
  return NULL;
}

unsigned long rt_getauxval(unsigned long type) {
  for (unsigned long *a = rt_auxv; a != NULL && a[0] != 0; a += 2) {
    if (a[0] == type) return a[1];
  }
  return 0;
}

void rt_sigreturn_restorer(void); /* start.S */

long rt_sigaction_handler(int sig, rt_sighandler handler) {
  enum { SA_SIGINFO = 4, SA_RESTORER = 0x04000000 };
  struct {
    rt_sighandler handler;
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
  } act = {handler, SA_SIGINFO | SA_RESTORER, rt_sigreturn_restorer, 0};
  return syscall4(SYS_rt_sigaction, sig, (long)&act, 0, sizeof(act.mask));
}
