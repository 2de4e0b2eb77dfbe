/* probe raw-socket: socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), closed at
 * once. A raw socket can forge packets on the network the workload sees
 * (CAP_NET_RAW). Created: REACHABLE; EPERM/EACCES/ENOSYS: BLOCKED. */
#include "workloads/probes/probe.h"

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  enum { AF_INET = 2, SOCK_RAW = 3, SOCK_CLOEXEC = 02000000, IPPROTO_ICMP = 1 };
  long fd =
      syscall3(SYS_socket, AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd >= 0) {
    syscall1(SYS_close, fd);
    return probe_report("raw-socket", "REACHABLE",
                        "created an AF_INET raw ICMP socket (closed)");
  }
  return probe_errno("raw-socket", fd, 0);
}
