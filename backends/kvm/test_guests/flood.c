/* kvm test guest `flood [KIB]`: writes KIB (default 1024) lines of 1 KiB
 * ('x' * 1023 and a newline) to stdout, for the output-limit test; exits 0
 * when every write went through whole, 1 otherwise. */
#include "backends/kvm/test_guests/guest.h"

static char line[1024];

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t kib = 0;
  if (argc > 2 || guest_arg_u64(argc, argv, 1, 1024, &kib) != 0) {
    rt_eprintf("usage: flood [KIB]\n");
    return GUEST_EXIT_USAGE;
  }
  memset(line, 'x', sizeof line - 1);
  line[sizeof line - 1] = '\n';
  for (uint64_t i = 0; i < kib; i++) {
    if (syscall3(SYS_write, 1, (long)line, sizeof line) != sizeof line) {
      return 1;
    }
  }
  return 0;
}
