#include "learn/proof.h"

#include <signal.h>

#include <variant>

#include <fmt/format.h>

namespace isoscope {
namespace {

// Whether `run` ended of SIGILL at an instruction the host could not
// execute (see ClassifyProof), `fault` being its last fault.
bool EndedAtUnexecutedInstruction(const RunResult& run,
                                  const std::optional<FaultEvent>& fault) {
  // A fault a rule kills ends the run as a violation, naming the rule.
  const Termination& t = run.termination;
  if (t.outcome != Outcome::kSignaled || t.signal != SIGILL ||
      !t.rule_id.empty() || !fault) {
    return false;
  }
  if (fault->kind != FaultKind::kInvalidInstruction ||
      fault->signal != SIGILL || fault->mnemonic.empty()) {
    return false;
  }
  // ud0, ud1 and ud2 are meant to fault: the program's own doing.
  if (fault->mnemonic == "ud0" || fault->mnemonic == "ud1" ||
      fault->mnemonic == "ud2") {
    return false;
  }
  return true;
}

}  // namespace

void LastFault::Append(const Event& event) {
  if (const auto* fault = std::get_if<FaultEvent>(&event)) fault_ = *fault;
}

ProofOutcome ClassifyProof(const RunResult& learned,
                           const Observation& observation,
                           const RunResult& proof,
                           const std::optional<FaultEvent>& last_fault) {
  ProofOutcome outcome;
  outcome.same_stdout =
      proof.output.stdout_bytes == learned.output.stdout_bytes;
  outcome.same_exit =
      proof.termination.ExitStatus() == learned.termination.ExitStatus() &&
      proof.termination.outcome == learned.termination.outcome;
  if (outcome.same_stdout && outcome.same_exit) return outcome;
  if (EndedAtUnexecutedInstruction(proof, last_fault) &&
      !observation.faults.contains(FaultKind::kInvalidInstruction)) {
    const FaultEvent& fault = *last_fault;
    outcome.kind = ProofOutcome::Kind::kNotRun;
    outcome.reason = fmt::format(
        "the backend cannot execute {} at rip {:#x}, which the observed runs "
        "ran without a fault",
        fault.mnemonic, fault.rip);
    return outcome;
  }
  outcome.kind = ProofOutcome::Kind::kDiffers;
  return outcome;
}

}  // namespace isoscope
