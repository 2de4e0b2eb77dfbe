#include "reports/sensitive_table.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace isoscope {
namespace {

constexpr std::string_view kNative = "native";
constexpr std::string_view kEnded = "ended";
constexpr std::string_view kAbsentSeen = "absent";

struct Why {
  std::string_view instruction;
  std::string_view why;
};

// Why each case of the `sensitive` probe is sensitive (it reads or changes
// state a monitor must virtualize) although it does not trap at CPL 3.
constexpr Why kWhy[] = {
    {"pushf",
     "reads RFLAGS at any CPL: the real IF and IOPL, not a monitor's "
     "virtual ones"},
    {"popf-if",
     "clearing IF with popf at CPL 3 is silently ignored: nothing "
     "traps, so a monitor never learns the guest wanted interrupts "
     "off"},
    {"popf-iopl",
     "changing IOPL with popf below CPL 0 is silently ignored "
     "too"},
    {"sgdt",
     "stores the GDT register without trapping (unless UMIP): where "
     "the real kernel keeps its descriptors"},
    {"sidt",
     "stores the IDT register without trapping (unless UMIP): the "
     "real interrupt table"},
    {"sldt", "stores the real LDT selector without trapping (unless UMIP)"},
    {"str",
     "stores the real task register selector without trapping (unless "
     "UMIP)"},
    {"smsw",
     "stores CR0 (protection, paging, ...) without trapping (unless "
     "UMIP)"},
    {"lar",
     "reads a descriptor's access rights, its DPL included, from the "
     "real GDT"},
    {"lsl",
     "reads a descriptor's limit from the real GDT; Linux's per-CPU "
     "segment's limit is the CPU number"},
    {"verr",
     "tells which descriptors are readable at this CPL: the real "
     "GDT's layout"},
    {"verw", "tells which descriptors are writable at this CPL"},
    {"cs",
     "CS's low two bits are the CPL: a deprivileged guest kernel sees 3 "
     "where it expects 0"},
    {"ss", "SS's low two bits are the CPL as well"},
    {"rdpid",
     "reads TSC_AUX, where Linux keeps the CPU number, without "
     "trapping"},
    {"rdtscp",
     "reads the time stamp counter and TSC_AUX; traps only when the "
     "kernel sets CR4.TSD"},
    {"cpuid-1",
     "family, model, features and the hypervisor bit; traps only "
     "with CPUID faulting or under VT-x/AMD-V"},
    {"cpuid-40000000", "a hypervisor's vendor signature"},
    {"xgetbv", "reads XCR0: which register state the real OS enabled"},
};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// "11" and the detail "signal=11 (SIGSEGV) ..." give "SIGSEGV".
std::string SignalSeen(std::string_view detail) {
  const size_t open = detail.find(" (SIG");
  const size_t close = detail.find(')', open);
  if (open != std::string_view::npos && close != std::string_view::npos) {
    return std::string(detail.substr(open + 2, close - open - 2));
  }
  return fmt::format("signal {}", DetailWord(detail, "signal").value_or("?"));
}

// A cell from its finding, before the comparison with native: kHostValue
// stands for "ran, to be compared" until CompareWithNative decides.
SensitiveCell Observe(const std::string& backend, const ProbeFinding* f) {
  SensitiveCell cell;
  cell.backend = backend;
  if (f == nullptr) return cell;  // kNotRun: not run (interrupted)
  cell.detail = f->detail;
  cell.run_id = f->run_id;
  // Nothing ran: the backend is unavailable, or isoscope failed.
  if (!f->outcome.has_value()) return cell;
  const std::string_view detail = f->detail;
  const std::string_view trapped =
      DetailWord(detail, kTrappedKey).value_or("none");
  if (trapped != "none") cell.trapped = trapped;

  const auto value = DetailWord(detail, "value");
  const auto signal = DetailWord(detail, "signal");
  if (f->verdict == kVerdictReachable && value.has_value()) {
    cell.seen = *value;
    if (DetailWord(detail, "effect") == "ignored") {
      cell.cls = SensitiveClass::kIgnored;
    } else if (DetailWord(detail, "umip") == "emulated") {
      cell.cls = SensitiveClass::kKernel;
    } else {
      cell.cls = SensitiveClass::kHostValue;  // compared below
    }
  } else if (f->verdict == kVerdictBlocked && signal.has_value()) {
    cell.seen = SignalSeen(detail);
    cell.cls = SensitiveClass::kFaults;
  } else if (f->verdict == kVerdictNa &&
             DetailWord(detail, "absent").has_value()) {
    cell.seen = kAbsentSeen;
    cell.cls = SensitiveClass::kAbsent;
  } else {
    cell.seen = kEnded;  // no observation: the run ended first
    cell.cls = SensitiveClass::kNotRun;
  }
  // What isoscope itself intercepted outranks what the workload saw.
  if (!cell.trapped.empty()) cell.cls = SensitiveClass::kTrapped;
  return cell;
}

void CompareWithNative(SensitiveRow& row) {
  const SensitiveCell* native = nullptr;
  for (const SensitiveCell& c : row.cells) {
    if (c.backend == kNative && !c.seen.empty() && c.seen != kEnded) {
      native = &c;
    }
  }
  row.compared = native != nullptr;
  for (SensitiveCell& c : row.cells) {
    if (c.cls == SensitiveClass::kHostValue && c.backend != kNative) {
      if (native == nullptr) {
        c.cls = SensitiveClass::kUncompared;
      } else if (c.seen != native->seen) {
        c.cls = SensitiveClass::kVirtual;
      }
    }
    if (native != nullptr && c.backend != kNative && !c.seen.empty() &&
        c.seen != native->seen) {
      row.tells.push_back(c.backend);
    }
  }
  if (native == nullptr) {
    row.inference = "n/a: no native observation to compare with";
    return;
  }
  if (row.tells.empty()) {
    size_t others = 0;
    for (const SensitiveCell& c : row.cells) {
      if (c.backend != kNative && !c.seen.empty()) ++others;
    }
    row.inference =
        others == 0 ? fmt::format("no other backend ran it (native sees {})",
                                  native->seen)
                    : fmt::format(
                          "no: every backend sees what a host process "
                          "sees ({})",
                          native->seen);
    return;
  }
  std::vector<std::string> seen;
  for (const SensitiveCell& c : row.cells) {
    if (std::find(row.tells.begin(), row.tells.end(), c.backend) !=
        row.tells.end()) {
      seen.push_back(fmt::format("{} sees {}", c.backend, c.seen));
    }
  }
  row.inference =
      fmt::format("yes: {}; a host process sees {}", Join(seen), native->seen);
}

std::vector<std::string> Instructions(const std::vector<SensitiveRow>& rows,
                                      const std::string& backend,
                                      SensitiveClass cls) {
  std::vector<std::string> out;
  for (const SensitiveRow& row : rows) {
    for (const SensitiveCell& c : row.cells) {
      if (c.backend == backend && c.cls == cls) out.push_back(row.instruction);
    }
  }
  return out;
}

const SensitiveCell* Cell(const std::vector<SensitiveRow>& rows,
                          std::string_view instruction,
                          std::string_view backend) {
  for (const SensitiveRow& row : rows) {
    if (row.instruction != instruction) continue;
    for (const SensitiveCell& c : row.cells) {
      if (c.backend == backend) return &c;
    }
  }
  return nullptr;
}

// The CPL the workload ran at on `backend`, from the `cs` row ("0x33"),
// else from any cell's `cpl=` word.
std::optional<unsigned> Cpl(const std::vector<SensitiveRow>& rows,
                            const std::string& backend) {
  for (const SensitiveRow& row : rows) {
    for (const SensitiveCell& c : row.cells) {
      if (c.backend != backend) continue;
      const auto cpl = DetailWord(c.detail, "cpl");
      if (cpl.has_value() && cpl->size() == 1 && (*cpl)[0] >= '0' &&
          (*cpl)[0] <= '3') {
        return static_cast<unsigned>((*cpl)[0] - '0');
      }
    }
  }
  return std::nullopt;
}

std::string Count(size_t n, size_t of) {
  return fmt::format("{} of {}", n, of);
}

std::string Listed(const std::vector<std::string>& items) {
  return items.empty() ? std::string() : " (" + Join(items) + ")";
}

std::string BackendSentence(const std::vector<SensitiveRow>& rows,
                            const std::string& backend) {
  const auto trapped = Instructions(rows, backend, SensitiveClass::kTrapped);
  const auto host = Instructions(rows, backend, SensitiveClass::kHostValue);
  const auto virt = Instructions(rows, backend, SensitiveClass::kVirtual);
  const auto ignored = Instructions(rows, backend, SensitiveClass::kIgnored);
  const auto kernel = Instructions(rows, backend, SensitiveClass::kKernel);
  const auto faults = Instructions(rows, backend, SensitiveClass::kFaults);
  size_t ran = 0;
  std::vector<std::string> tells;
  for (const SensitiveRow& row : rows) {
    const SensitiveCell* c = Cell(rows, row.instruction, backend);
    if (c != nullptr && c->cls != SensitiveClass::kNotRun) ++ran;
    if (std::find(row.tells.begin(), row.tells.end(), backend) !=
        row.tells.end()) {
      tells.push_back(row.instruction);
    }
  }
  if (ran == 0) {
    return fmt::format("{} did not run the sensitive-instruction probe.",
                       backend);
  }
  const auto cpl = Cpl(rows, backend);
  std::string out = fmt::format(
      "On {} the workload runs at CPL {}: isoscope intercepted {}{}", backend,
      cpl.has_value() ? std::to_string(*cpl) : std::string("unknown"),
      Count(trapped.size(), ran), Listed(trapped));
  std::vector<std::string> ended;
  for (const std::string& instruction : trapped) {
    const SensitiveCell* c = Cell(rows, instruction, backend);
    if (c != nullptr && c->seen == kEnded) ended.push_back(instruction);
  }
  if (!ended.empty()) {
    out += fmt::format(
        ", {} of which ended the run: neither the hypervisor nor isoscope "
        "could carry {} out{}",
        ended.size() == trapped.size() ? std::string("all")
                                       : std::to_string(ended.size()),
        ended.size() == 1 ? "it" : "them",
        ended.size() == trapped.size() ? std::string() : Listed(ended));
  }
  std::vector<std::string> parts;
  if (!host.empty()) {
    parts.push_back(fmt::format("{} gave the host's own value{}",
                                Count(host.size(), ran), Listed(host)));
  }
  if (!virt.empty()) {
    parts.push_back(fmt::format(
        "{} gave another value or took another effect than on the host, "
        "that of the virtual CPU{}",
        Count(virt.size(), ran), Listed(virt)));
  }
  if (!ignored.empty()) {
    parts.push_back(fmt::format("{} were silently ignored{}",
                                Count(ignored.size(), ran), Listed(ignored)));
  }
  if (!kernel.empty()) {
    parts.push_back(fmt::format(
        "{} faulted into the host kernel, which made up a value (UMIP){}",
        Count(kernel.size(), ran), Listed(kernel)));
  }
  if (!faults.empty()) {
    parts.push_back(fmt::format("{} faulted into the workload's own handler{}",
                                Count(faults.size(), ran), Listed(faults)));
  }
  for (const std::string& part : parts) out += "; " + part;
  const bool compared =
      std::any_of(rows.begin(), rows.end(),
                  [](const SensitiveRow& r) { return r.compared; });
  if (!compared) {
    out += ". Without a native column nothing says what a host process sees.";
  } else if (tells.empty()) {
    out += ". None of them tells the workload it is not a plain host process.";
  } else {
    out += fmt::format(
        ". {} tell{} the workload it is not a plain host process{}.",
        Count(tells.size(), ran), tells.size() == 1 ? "s" : "", Listed(tells));
  }
  return out;
}

// What a ptrace monitor's trap-and-emulate can reach at all. It sees an
// instruction only as a signal, and at CPL 3 few of these ever fault: that is
// fixed by the CPU and Linux, not by this run, so the sentence names the
// conditions and then says what happened here.
std::string PtraceReachSentence(const std::vector<SensitiveRow>& rows) {
  const SensitiveCell* rdtscp = Cell(rows, "rdtscp", "ptrace");
  std::string here;
  if (rdtscp != nullptr && rdtscp->cls == SensitiveClass::kTrapped) {
    here = " (here rdtscp trapped and was emulated)";
  } else if (rdtscp != nullptr && rdtscp->cls != SensitiveClass::kNotRun &&
             rdtscp->cls != SensitiveClass::kAbsent) {
    here =
        " (here rdtscp ran untrapped: the policy's faults.rdtsc did not ask "
        "for it, or this host cannot trap RDTSC; isoscope doctor says "
        "which)";
  }
  return fmt::format(
      "What trap-and-emulate from a ptrace monitor can reach: only an "
      "instruction that faults at CPL 3 reaches it, as a signal. rdtsc and "
      "rdtscp fault once PR_SET_TSC sets CR4.TSD, on hosts whose RDTSC "
      "really traps{}; cpuid faults only with CPUID faulting, which the "
      "host's CPU must offer. sgdt, sidt, sldt, str and smsw fault under "
      "UMIP, but Linux answers them inside the kernel with made-up values "
      "and sends no signal, so no tracer sees them. pushf, popf, lar, lsl, "
      "verr, verw, reading cs and ss, rdpid and xgetbv never fault at CPL "
      "3: no monitor outside the CPU can intercept them, only running the "
      "workload in a VM (or translating its code) can.",
      here);
}

}  // namespace

std::string_view SensitiveClassName(SensitiveClass c) {
  switch (c) {
    case SensitiveClass::kTrapped:
      return "trap";
    case SensitiveClass::kHostValue:
      return "host";
    case SensitiveClass::kVirtual:
      return "virtual";
    case SensitiveClass::kIgnored:
      return "ignored";
    case SensitiveClass::kFaults:
      return "fault";
    case SensitiveClass::kKernel:
      return "kernel";
    case SensitiveClass::kAbsent:
      return "absent";
    case SensitiveClass::kUncompared:
      return "ran";
    case SensitiveClass::kNotRun:
      return "n/a";
  }
  return "?";
}

std::string_view SensitiveClassMeaning(SensitiveClass c) {
  switch (c) {
    case SensitiveClass::kTrapped:
      return "traps to isoscope: it recorded the fault and its policy decided";
    case SensitiveClass::kHostValue:
      return "runs natively: the workload sees what a host process sees";
    case SensitiveClass::kVirtual:
      return "runs with a virtual value or effect: not what a host process "
             "sees";
    case SensitiveClass::kIgnored:
      return "silently ignored: no fault, and the change did not happen";
    case SensitiveClass::kFaults:
      return "faults in the workload: its own handler got the signal";
    case SensitiveClass::kKernel:
      return "faults into the host kernel, which answers with a made-up value "
             "(UMIP)";
    case SensitiveClass::kAbsent:
      return "CPUID says the CPU lacks it: not executed";
    case SensitiveClass::kUncompared:
      return "ran, but there is no native value to compare with";
    case SensitiveClass::kNotRun:
      return "not measured: the backend did not run it, or the run ended "
             "first";
  }
  return "";
}

std::string_view WhySensitive(std::string_view instruction) {
  for (const Why& w : kWhy) {
    if (w.instruction == instruction) return w.why;
  }
  return "";
}

std::vector<SensitiveRow> BuildSensitiveTable(const ProbeSession& session) {
  std::vector<SensitiveRow> rows;
  for (const ProbeFinding& f : session.findings) {
    const std::string_view id = f.probe_id;
    if (!id.starts_with(kSensitiveProbePrefix)) continue;
    const std::string instruction(id.substr(kSensitiveProbePrefix.size()));
    if (std::none_of(rows.begin(), rows.end(), [&](const SensitiveRow& r) {
          return r.instruction == instruction;
        })) {
      rows.push_back(SensitiveRow{instruction,
                                  std::string(WhySensitive(instruction)),
                                  {},
                                  {},
                                  false,
                                  ""});
    }
  }
  for (SensitiveRow& row : rows) {
    const std::string id =
        fmt::format("{}{}", kSensitiveProbePrefix, row.instruction);
    for (const std::string& backend : session.backends) {
      const ProbeFinding* found = nullptr;
      for (const ProbeFinding& f : session.findings) {
        if (f.probe_id == id && f.backend == backend) found = &f;
      }
      row.cells.push_back(Observe(backend, found));
    }
    CompareWithNative(row);
  }
  return rows;
}

std::vector<std::string> SensitiveVerdict(
    const std::vector<SensitiveRow>& rows,
    const std::vector<std::string>& backends) {
  std::vector<std::string> sentences;
  if (rows.empty()) return sentences;
  sentences.emplace_back(
      "Privileged instructions (hlt, cli, out, rdmsr: the fault routing map) "
      "trap whenever they run outside ring 0, so a monitor that runs its "
      "guest deprivileged catches each one and can emulate it. Sensitive "
      "instructions read or change the state such a monitor must keep for "
      "itself: the interrupt flag, the descriptor tables, CR0, the privilege "
      "level, the CPU's identity. Popek and Goldberg showed that "
      "trap-and-emulate alone can virtualize a machine whose sensitive "
      "instructions are all privileged.");
  const bool have_native =
      std::find(backends.begin(), backends.end(), kNative) != backends.end();
  if (have_native) {
    const std::string native(kNative);
    std::vector<std::string> untrapped;
    for (SensitiveClass cls :
         {SensitiveClass::kHostValue, SensitiveClass::kIgnored,
          SensitiveClass::kKernel}) {
      for (const std::string& i : Instructions(rows, native, cls)) {
        untrapped.push_back(i);
      }
    }
    const auto kernel = Instructions(rows, native, SensitiveClass::kKernel);
    const auto cpl = Cpl(rows, native);
    if (!untrapped.empty()) {
      sentences.push_back(fmt::format(
          "x86 is not such a machine: a plain host process at CPL {} ran {} "
          "of these {} instructions without a signal{}{}. That is why x86 was "
          "not classically virtualizable, and why VMware used binary "
          "translation and Intel and AMD then added VT-x and AMD-V, which run "
          "a guest kernel at ring 0 of a VM.",
          cpl.has_value() ? std::to_string(*cpl) : std::string("unknown"),
          untrapped.size(), rows.size(), Listed(untrapped),
          kernel.empty()
              ? std::string()
              : fmt::format("; UMIP made {} of them fault, and the host "
                            "kernel answered with made-up values{}",
                            kernel.size(), Listed(kernel))));
    }
    const SensitiveCell* leaf1 = Cell(rows, "cpuid-1", kNative);
    if (leaf1 != nullptr && DetailWord(leaf1->detail, "hypervisor") == "1") {
      const SensitiveCell* vendor = Cell(rows, "cpuid-40000000", kNative);
      sentences.push_back(fmt::format(
          "CPUID's hypervisor bit is set on native too: this host itself "
          "runs in a virtual machine{}.",
          vendor != nullptr && !vendor->seen.empty()
              ? fmt::format(" (leaf 0x40000000: {})", vendor->seen)
              : std::string()));
    }
  }
  for (const std::string& backend : backends) {
    // Native's own sentence is the one above.
    if (have_native && backend == kNative) continue;
    sentences.push_back(BackendSentence(rows, backend));
    const bool ran =
        std::any_of(rows.begin(), rows.end(), [&](const SensitiveRow& row) {
          const SensitiveCell* c = Cell(rows, row.instruction, backend);
          return c != nullptr && c->cls != SensitiveClass::kNotRun;
        });
    if (backend == "ptrace" && ran) {
      sentences.push_back(PtraceReachSentence(rows));
    }
  }
  return sentences;
}

}  // namespace isoscope
