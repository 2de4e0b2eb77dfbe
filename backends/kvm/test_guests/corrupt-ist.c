/* kvm test guest `corrupt-ist MODE`: wrecks the structures the CPU needs to
 * deliver an exception, then executes ud2 at the printed site. It finds them
 * as the CPU does (sgdt, sidt, str: no guessed addresses), all in guest RAM
 * that the guest's ring 0 may write. MODE:
 *   tss    zero IST1..IST7 in the TSS: the exception frame would be pushed
 *          below address 0 -> #PF -> #DF on the same stack -> triple fault
 *   idt    zero the whole IDT: every gate not present -> triple fault
 *   gdt    zero the GDT (the running CS stays cached, syscalls load theirs
 *          from STAR): the gate's code segment is null -> triple fault
 *   stack  fill the 4 KiB below IST1 (the exception stack) with 0xcc: the
 *          frame is pushed afresh, so the #UD must still arrive precisely
 *          (invalid-instruction fault at the site, SIGILL)
 * The run must end with a triple fault (SIGSEGV, detail "triple fault") or a
 * precise fault, never an isoscope error. Prints what it found and
 * `site=0x...`; exit 24 if it survives, 2 on a bad MODE or no TSS. */
#include "backends/kvm/test_guests/guest.h"

struct __attribute__((packed)) descriptor_table {
  unsigned short limit;
  unsigned long base;
};

void do_ud2(void);
extern const char ud2_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl do_ud2\n"
        "do_ud2:\n"
        ".globl ud2_site\n"
        "ud2_site:\n"
        "  ud2\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

static void fill(unsigned long address, unsigned long size, unsigned char c) {
  volatile unsigned char *p = (volatile unsigned char *)address;
  for (unsigned long i = 0; i < size; i++) p[i] = c;
}

static unsigned long read_u64(unsigned long address) {
  volatile unsigned char *p = (volatile unsigned char *)address;
  unsigned long value = 0;
  for (int i = 7; i >= 0; i--) value = (value << 8) | p[i];
  return value;
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  if (argc != 2) {
    rt_eprintf("usage: corrupt-ist tss|idt|gdt|stack\n");
    return GUEST_EXIT_USAGE;
  }
  struct descriptor_table gdt, idt;
  unsigned short tr = 0;
  __asm__ volatile("sgdt %0" : "=m"(gdt));
  __asm__ volatile("sidt %0" : "=m"(idt));
  __asm__ volatile("str %0" : "=r"(tr));
  rt_printf("gdt=0x%lx/%u idt=0x%lx/%u tr=0x%x\n", gdt.base, gdt.limit,
            idt.base, idt.limit, tr);
  if (tr == 0 || (unsigned long)(tr & ~7) + 15 > gdt.limit) {
    rt_printf("no TSS\n");
    return GUEST_EXIT_USAGE;
  }
  unsigned long lo = read_u64(gdt.base + (tr & ~7));
  unsigned long hi = read_u64(gdt.base + (tr & ~7) + 8);
  unsigned long tss = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) |
                      ((hi & 0xffffffffUL) << 32);
  unsigned long ist1 = read_u64(tss + 36);
  rt_printf("tss=0x%lx ist1=0x%lx\n", tss, ist1);

  if (strcmp(argv[1], "tss") == 0) {
    fill(tss + 36, 7 * 8, 0);
  } else if (strcmp(argv[1], "idt") == 0) {
    fill(idt.base, (unsigned long)idt.limit + 1, 0);
  } else if (strcmp(argv[1], "gdt") == 0) {
    fill(gdt.base, (unsigned long)gdt.limit + 1, 0);
  } else if (strcmp(argv[1], "stack") == 0) {
    if (ist1 < 4096) {
      rt_printf("no exception stack\n");
      return GUEST_EXIT_USAGE;
    }
    fill(ist1 - 4096, 4096, 0xcc);
  } else {
    rt_eprintf("usage: corrupt-ist tss|idt|gdt|stack\n");
    return GUEST_EXIT_USAGE;
  }
  rt_printf("corrupted %s\n", argv[1]);
  guest_print_site(ud2_site);
  do_ud2();
  rt_printf("survived\n");
  return GUEST_EXIT_CORRUPT;
}
