// Holes: calls a policy lets run that step around its own path rules or its
// network mode. A policy with `paths` rules promises that files are reached
// only by checked paths; a policy with `network: none` or `loopback`
// promises that much network. A call that breaks such a promise (an
// io_uring ring opening files, a handle open, a mount that makes a checked
// path name another file, another process's descriptors) is a hole, and a
// policy is refused unless it accepts each of its holes by name
// (`accepted_holes`) with a reason. See policies/README.md, "Holes".
#ifndef ISOSCOPE_POLICIES_HOLES_H_
#define ISOSCOPE_POLICIES_HOLES_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "policies/policy.h"

namespace isoscope {

enum class HoleKind {
  kUncheckedPath,  // takes a path, but can run without a `paths` rule
                   // checking it
  kNoPath,         // reaches files with no path argument to check
  kRebindsPaths,   // changes what a checked path names (mounts, roots,
                   // device nodes, another mount namespace)
  kOtherProcess,   // acts with another process's descriptors or memory
  kUnixAddress,    // an AF_UNIX address is a file path that no rule checks
  kNetwork,        // steps around `network: none` or `loopback`
};

// "unchecked path", "no path", "rebinds paths", "other process",
// "unix address", "network".
std::string_view HoleKindName(HoleKind kind);

struct Hole {
  int syscall = 0;
  HoleKind kind = HoleKind::kUncheckedPath;
  // What lets the call run: a rule's id ("<id>.else" for its else branch)
  // or "syscalls.default"; `field` is where it is written
  // ("syscalls.rules[3]", "syscalls.rules[3].else", "syscalls.default").
  std::string rule_id;
  std::string field;
  SourcePosition position;  // of that rule or of `default:`
  std::string what;         // what the call reaches, one phrase
  // Index into Policy::accepted_holes of the entry that accepts it.
  std::optional<size_t> accepted;
};

// Every hole of `policy`, ordered by the rule that opens it, then kind,
// then syscall number. Pure; the analysis is conservative: a rule whose
// argument conditions may let a call run counts as letting it run.
std::vector<Hole> FindHoles(const Policy& policy);

// kPolicy error when `policy` has a hole it does not accept, or accepts a
// call that is no hole of it; one line per rule and kind, each starting
// "<source>:<line>:<column>: <field>". OK otherwise.
Status CheckHoles(const Policy& policy, std::string_view source);

}  // namespace isoscope

#endif  // ISOSCOPE_POLICIES_HOLES_H_
