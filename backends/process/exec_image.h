// The files the kernel opened by itself to run a process's new image, read
// at a tracer's PTRACE_EVENT_EXEC stop (the exec is done, the image not yet
// run).
//
// Why: a policy decides an execve on the path the workload names. The
// kernel then runs, without another system call anyone could stop, the
// interpreter a `#!` line names (for a script, /proc/<pid>/exe is that
// interpreter, after every `#!` level) and the dynamic loader an ELF's
// PT_INTERP names (mapped beside the program before it runs). Either can be
// a file the policy's `files.exec` does not list, so each is decided too.
#ifndef ISOSCOPE_BACKENDS_PROCESS_EXEC_IMAGE_H_
#define ISOSCOPE_BACKENDS_PROCESS_EXEC_IMAGE_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace isoscope {

struct ExecImage {
  // Paths as /proc shows them to the reader (d_path: absolute, no
  // symlinks, " (deleted)" after a file that has no name left). A path
  // /proc cannot show (longer than PATH_MAX, or the process already gone)
  // is the magic link's own name ("/proc/self/exe",
  // "/proc/self/map_files/..."), which names no file a policy lists: a
  // caller deciding on it refuses it.
  std::string program;
  // Every other file mapped into the new image: the ELF interpreter, when
  // the program has one (a static program has none). Found among the
  // mappings, not from AT_BASE, which is 0 for a non-PIE interpreter.
  std::vector<std::string> interpreters;
  bool operator==(const ExecImage&) const = default;
};

// Reads process `pid`'s image. Never fails: what cannot be read is named as
// described above.
ExecImage ReadExecImage(pid_t pid);

}  // namespace isoscope

#endif  // ISOSCOPE_BACKENDS_PROCESS_EXEC_IMAGE_H_
