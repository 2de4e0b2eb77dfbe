/* serial-hello: writes "hello over COM1\n" with `out` to the first serial
 * port (0x3f8), waiting for the transmitter through the line status register
 * (0x3fd) as a driver would, then prints "written" through stdout. In user
 * mode `in`/`out` fault; a backend that emulates them turns the bytes into
 * output. */
#include <stdio.h>

static unsigned char inb(unsigned short port) {
  unsigned char value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static void outb(unsigned short port, unsigned char value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

int main(void) {
  const char *text = "hello over COM1\n";
  for (const char *p = text; *p; p++) {
    while ((inb(0x3fd) & 0x20) == 0) {
    }
    outb(0x3f8, (unsigned char)*p);
  }
  printf("written\n");
  return 0;
}
