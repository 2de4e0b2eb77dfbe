/* fidelity_test's static glibc program: the kind of computation the strict
 * preset is for. Reads `input.txt` from its working directory, prints each
 * line with its length and the number of lines, and exits 0 (1 with the
 * error when the file cannot be read). Linked statically, so no dynamic
 * loader is involved (and the kvm backend can load it). */
#include <stdio.h>
#include <string.h>

int main(void) {
  FILE *in = fopen("input.txt", "r");
  if (in == NULL) {
    perror("input.txt");
    return 1;
  }
  char line[256];
  int lines = 0;
  while (fgets(line, sizeof line, in) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    printf("%zu %s\n", strlen(line), line);
    ++lines;
  }
  fclose(in);
  printf("%d lines\n", lines);
  return 0;
}
