/* kvm test guest `mmio RAM_BYTES`: maps guest-physical 64 GiB (far beyond
 * RAM: no memory slot) into its own address space and reads it. The guest
 * runs in ring 0 and its page tables are identity-mapped guest RAM, so it
 * reads CR3, walks PML4 -> PDPT -> PD, writes a 2 MiB page directory entry
 * (present, writable, PS) for the first 2 MiB-aligned virtual address at or
 * above RAM_BYTES (which must be below 1 GiB), invalidates it with invlpg
 * and loads from it: KVM exits with MMIO at guest-physical 0x1000000000.
 * The run must end with a page fault at that address, then SIGSEGV.
 * Prints the steps and `site=0x...` (the load); exit 21 if the load
 * returns, 22 if the page tables are not laid out as expected (a 1 GiB page,
 * an entry not present) or RAM_BYTES is bad. Natively: reading CR3 is a #GP,
 * SIGSEGV. */
#include "backends/kvm/test_guests/guest.h"

static const unsigned long kPresent = 1UL << 0;
static const unsigned long kWritable = 1UL << 1;
static const unsigned long kLargePage = 1UL << 7;
static const unsigned long kAddressMask = 0x000ffffffffff000UL;
static const unsigned long kMmioAddress = 0x1000000000UL; /* 64 GiB */
static const unsigned long kTwoMiB = 2UL << 20;

unsigned long load64(unsigned long address);
extern const char load_site[];
/* clang-format off */
__asm__(".pushsection .text\n"
        ".globl load64\n"
        "load64:\n"
        ".globl load_site\n"
        "load_site:\n"
        "  mov (%rdi), %rax\n"
        "  ret\n"
        ".popsection\n");
/* clang-format on */

/* The table an entry points to (identity mapping: physical == virtual). */
static volatile unsigned long *next_table(unsigned long entry) {
  return (volatile unsigned long *)(entry & kAddressMask);
}

int main(int argc, char **argv, char **envp) {
  (void)envp;
  uint64_t ram = 0;
  if (argc != 2 || guest_arg_u64(argc, argv, 1, 0, &ram) != 0 || ram == 0) {
    rt_eprintf("usage: mmio RAM_BYTES\n");
    return GUEST_EXIT_USAGE;
  }
  unsigned long target = (ram + kTwoMiB - 1) & ~(kTwoMiB - 1);
  if (target >= (1UL << 30)) {
    rt_printf("RAM too large for a mapping in the first GiB\n");
    return GUEST_EXIT_MMIO_LAYOUT;
  }
  unsigned long cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  rt_printf("cr3=0x%lx\n", cr3);
  volatile unsigned long *pml4 = next_table(cr3);
  if (!(pml4[0] & kPresent)) return GUEST_EXIT_MMIO_LAYOUT;
  volatile unsigned long *pdpt = next_table(pml4[0]);
  if (!(pdpt[0] & kPresent) || (pdpt[0] & kLargePage)) {
    rt_printf("pdpt[0]=0x%lx: no page directory\n", pdpt[0]);
    return GUEST_EXIT_MMIO_LAYOUT;
  }
  volatile unsigned long *pd = next_table(pdpt[0]);
  unsigned long index = target / kTwoMiB;
  rt_printf("pd=0x%lx pd[%lu]=0x%lx\n", (unsigned long)pd, index, pd[index]);
  pd[index] = kMmioAddress | kLargePage | kWritable | kPresent;
  __asm__ volatile("invlpg (%0)" : : "r"(target) : "memory");
  rt_printf("mapped 0x%lx -> 0x%lx\n", target, kMmioAddress);
  guest_print_site(load_site);
  unsigned long value = load64(target);
  rt_printf("survived value=0x%lx\n", value);
  return GUEST_EXIT_MMIO;
}
