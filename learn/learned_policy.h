// From an Observation to a policy that allows what the workload was seen
// doing and nothing else, written as YAML a person can review: a comment
// above each rule and each path glob says what the workload did to need it.
//
// What is learned, and how it is generalised (the README's "Learned from
// your own program" says it for users):
// - syscalls by name; ioctl requests, socket families with their types,
//   prctl options and clone flags as argument conditions, one rule per
//   value seen, the last of each call refusing other values with the errno
//   a careful author would pick (clone: EPERM, and clone3 then ENOSYS so
//   libc falls back to the checked clone); memory protections refused when
//   never seen (writable and executable at once, or executable at all:
//   EACCES); calls the base refuses by name keep its answer, the rest get
//   the base's default;
// - paths by intent (read, write, exec; a created file is a written one):
//   the workdir and /tmp as trees, a package's directory under /usr/lib,
//   /usr/share and the like as a tree for reading, pids and fd numbers
//   under /proc as "*", many files of one directory as dir/* (never in
//   /etc, homes, /proc, /sys, /dev or a bin directory), anything else
//   (every program run, every file written outside those) exactly;
// - `network` from the IP endpoints reached: none, loopback, or host, with
//   network.connect and network.bind listing the endpoints reached and
//   bound (a port the kernel picked for a bind to port 0 as its range);
// - resources from the peaks, with headroom (never below the base's memory
//   and process limits, which ptrace enforces per address space and uid);
//   faults as seen;
// - identity, capabilities and the filesystem view from the base, the view
//   widened by the directories of the files the workload reached.
#ifndef ISOSCOPE_LEARN_LEARNED_POLICY_H_
#define ISOSCOPE_LEARN_LEARNED_POLICY_H_

#include <string>
#include <vector>

#include "base/error.h"
#include "learn/observation.h"
#include "policies/policy.h"

namespace isoscope {

struct LearnContext {
  std::string command;    // the workload's command line, for the header
  std::string backend;    // where it was observed
  std::string base_name;  // the base policy's name, for comments
  // A policy learned before (`--merge`): everything it allows is kept, the
  // new observation widening it. Its name says where it came from.
  const Policy* merge = nullptr;
};

struct LearnedPolicy {
  std::string yaml;                // loads with ParsePolicy, holes accepted
  std::vector<std::string> notes;  // what could not be learned, and why
};

// `base` gives what is not observed (see above). Errors (kPolicy) only when
// the policy written does not load back, which is isoscope's bug.
Result<LearnedPolicy> LearnPolicy(const Observation& observation,
                                  const Policy& base,
                                  const LearnContext& context);

}  // namespace isoscope

#endif  // ISOSCOPE_LEARN_LEARNED_POLICY_H_
