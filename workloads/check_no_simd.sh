#!/bin/sh
# Fails (and deletes the binary, so the next build retries) when a workload
# contains an instruction the KVM guest on our hosts cannot execute: anything
# touching the MMX/SSE/AVX/AVX-512 register files or their state.
# Usage: check_no_simd.sh OBJDUMP BINARY
set -eu
objdump=$1
binary=$2

# 1. Any operand naming an MMX, XMM, YMM, ZMM or AVX-512 mask register.
# 2. Mnemonics that touch that state without naming such a register
#    (x87/SSE state save and restore, MXCSR, vzero*, emms) or are SSE
#    instructions on general registers (movnti, crc32).
# objdump prints each instruction as "address:<TAB>mnemonic operands".
pattern='%([xyz]mm[0-9]+|mm[0-7]|k[0-7])\b'
pattern="$pattern"'|:\s+((rex\.?[a-z]* |data16 |lock |rep[a-z]* )*)'
pattern="$pattern"'(v?[ls]dmxcsr|vzero(upper|all)|f?emms|fx(save|rstor)(64)?'
pattern="$pattern"'|xsave[a-z0-9]*|xrstor[a-z0-9]*|movnti[a-z]*|crc32[a-z]*'
pattern="$pattern"'|maskmov[a-z]*)\b'

if ! listing=$("$objdump" -d --no-show-raw-insn "$binary"); then
  echo "check_no_simd: $objdump failed on $binary" >&2
  rm -f "$binary"
  exit 1
fi
if hits=$(printf '%s\n' "$listing" | grep -E "$pattern"); then
  echo "check_no_simd: $binary contains SSE/AVX/MMX instructions:" >&2
  printf '%s\n' "$hits" | head -n 20 >&2
  rm -f "$binary"
  exit 1
fi
