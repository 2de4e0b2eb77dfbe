/* probe cgroup-path (detection): reads /proc/self/cgroup
 * ("<id>:<controllers>:<path>" lines) and prints the first line's path.
 * REACHABLE when any line's path is not "/" (a sandbox cgroup is visible;
 * the detail then names the first such line when it is not the first line,
 * as on hybrid v1/v2 hosts), BLOCKED when every path is "/" (the root, or
 * a cgroup namespace). Unreadable: NA. */
#include "workloads/probes/probe.h"

/* The path of the cgroup line starting at `line` (after the second ':'),
 * NUL-terminated in place; NULL if malformed. Advances *next past it. */
static char *line_path(char *line, char **next) {
  char *end = strchr(line, '\n');
  if (end != NULL) {
    *end = 0;
    *next = end + 1;
  } else {
    *next = line + strlen(line);
  }
  char *p = strchr(line, ':');
  if (p != NULL) p = strchr(p + 1, ':');
  return p != NULL ? p + 1 : NULL;
}

int main(int argc, char **argv, char **envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  static char text[8192];
  long n = probe_read_file("/proc/self/cgroup", text, sizeof(text));
  if (n <= 0) return probe_report("cgroup-path", "NA", "no /proc/self/cgroup");
  char *next = text;
  char *first = line_path(text, &next);
  if (first == NULL) return probe_report("cgroup-path", "NA", "malformed");
  char first_s[80], other_s[80];
  probe_sanitize(first_s, first, sizeof(first_s));
  char detail[200];
  if (strcmp(first, "/") != 0) {
    rt_snprintf(detail, sizeof(detail), "path=%s", first_s);
    return probe_report("cgroup-path", "REACHABLE", detail);
  }
  while (*next != 0) {
    char *line = next;
    char *path = line_path(line, &next);
    if (path != NULL && strcmp(path, "/") != 0) {
      probe_sanitize(other_s, line, sizeof(other_s));
      rt_snprintf(detail, sizeof(detail), "path=/ other=%s", other_s);
      return probe_report("cgroup-path", "REACHABLE", detail);
    }
  }
  return probe_report("cgroup-path", "BLOCKED", "path=/");
}
