#include "backends/seccomp/bpf_evaluator.h"

#include <cstring>

#include <fmt/format.h>

namespace isoscope {

Result<uint32_t> EvaluateSeccompBpf(std::span<const sock_filter> program,
                                    const seccomp_data& data) {
  uint32_t a = 0;
  uint32_t x = 0;
  uint32_t memory[BPF_MEMWORDS] = {};
  unsigned char bytes[sizeof data];
  std::memcpy(bytes, &data, sizeof data);
  auto bad = [](size_t pc, std::string what) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("BPF instruction {}: {}", pc, what));
  };
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const sock_filter& in = program[pc];
    auto jump = [&](bool taken) { pc += taken ? in.jt : in.jf; };
    switch (in.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (in.k % 4 != 0 || in.k > sizeof data - 4) {
          return bad(pc, fmt::format("load at {} outside seccomp_data", in.k));
        }
        std::memcpy(&a, bytes + in.k, 4);
        break;
      case BPF_LD | BPF_IMM:
        a = in.k;
        break;
      case BPF_LDX | BPF_IMM:
        x = in.k;
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (in.k >= BPF_MEMWORDS) {
          return bad(pc, fmt::format("scratch word {} out of range", in.k));
        }
        if (in.code == (BPF_LD | BPF_MEM)) a = memory[in.k];
        if (in.code == (BPF_LDX | BPF_MEM)) x = memory[in.k];
        if (in.code == BPF_ST) memory[in.k] = a;
        if (in.code == BPF_STX) memory[in.k] = x;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        a &= in.k;
        break;
      case BPF_ALU | BPF_OR | BPF_K:
        a |= in.k;
        break;
      case BPF_MISC | BPF_TAX:
        x = a;
        break;
      case BPF_MISC | BPF_TXA:
        a = x;
        break;
      case BPF_JMP | BPF_JA:
        if (in.k >= program.size() - pc - 1) {
          return bad(pc, fmt::format("jump by {} past the end", in.k));
        }
        pc += in.k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        jump(a == in.k);
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        jump(a > in.k);
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        jump(a >= in.k);
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        jump((a & in.k) != 0);
        break;
      case BPF_JMP | BPF_JEQ | BPF_X:
        jump(a == x);
        break;
      case BPF_JMP | BPF_JGT | BPF_X:
        jump(a > x);
        break;
      case BPF_JMP | BPF_JGE | BPF_X:
        jump(a >= x);
        break;
      case BPF_RET | BPF_K:
        return in.k;
      case BPF_RET | BPF_A:
        return a;
      default:
        return bad(pc, fmt::format("unsupported opcode {:#x}", in.code));
    }
  }
  return Fail(ErrorCode::kInvalidArgument, "the program ran off its end");
}

}  // namespace isoscope
