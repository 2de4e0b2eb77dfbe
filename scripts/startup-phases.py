#!/usr/bin/env python3
"""Where a whole `isoscope` process spends its time, phase by phase.

Runs one isoscope command line N times and prints, for each step between
two consecutive events of that process, its median and quartiles over the
runs. Events come from the kernel, so the binary runs unpatched: uprobes on
the dynamic loader's entry, `_start`, `main` and the entry and return of a
list of isoscope's functions (--probe adds more), and the scheduler's
fork, exec and exit tracepoints for the process and its children. The first
event is this script's fork, the last the process reaped (CLOCK_MONOTONIC,
as the trace is).

Every probe hit is a breakpoint trap (a few microseconds on a PVM guest),
so the total runs above an untraced run; the run's probe hits are printed.
Use it to find where time goes; quote whole-process figures from
bench/whole_process_bench (scripts/bench.sh).

Usage (as root, tracefs mounted at /sys/kernel/tracing):
  scripts/startup-phases.py [-n RUNS] [--isoscope PATH] [--probe NAME]...
      -- ARGS...
  e.g. scripts/startup-phases.py -n 100 -- run -q --backend native -- /bin/true
"""
import argparse
import collections
import os
import re
import signal
import statistics
import subprocess
import sys
import time

TRACEFS = "/sys/kernel/tracing"

# isoscope's phases, as functions whose entry and return are probed. A
# function a command does not call simply does not show.
DEFAULT_PROBES = [
    "isoscope::SweepIfAnOwnerDied",
    "isoscope::cli::DefineCli",
    "isoscope::cli::RunCommand",
    "isoscope::cli::LoadPolicyForThisHost",
    "isoscope::cli::OpenStore",
    "isoscope::ReadHostFacts",
    "isoscope::RunRecorded",
    "isoscope::Store::Begin",
    "isoscope::Supervisor::Run",
    "isoscope::NativeBackend::Start",
    "isoscope::PtraceBackend::Start",
    "isoscope::ContainerBackend::Start",
    "isoscope::Store::Complete",
]


def fail(message):
    print(f"startup-phases: {message}", file=sys.stderr)
    sys.exit(1)


def load_segments(path):
    """(vaddr, offset, size) of each executable LOAD segment of `path`."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True,
                         text=True, check=True).stdout
    segments = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "LOAD" and "E" in fields[6:-1]:
            segments.append((int(fields[2], 16), int(fields[1], 16),
                             int(fields[5], 16)))
    return segments


def file_offset(path, vaddr, segments):
    for start, offset, size in segments:
        if start <= vaddr < start + size:
            return vaddr - start + offset
    fail(f"{path}: address {vaddr:#x} is in no executable segment")


def interpreter_and_entry(path):
    out = subprocess.run(["readelf", "-lW", path], capture_output=True,
                         text=True, check=True).stdout
    match = re.search(r"\[Requesting program interpreter: (.+)\]", out)
    if not match:
        return None
    interp = os.path.realpath(match.group(1))
    header = subprocess.run(["readelf", "-hW", interp], capture_output=True,
                            text=True, check=True).stdout
    entry = int(re.search(r"Entry point address:\s+(0x[0-9a-f]+)",
                          header).group(1), 16)
    return interp, entry


def function_addresses(path, names):
    """Name -> address, for each of `names` found. A name is a demangled
    function name as nm -C prints it up to its '(' (the first overload
    nm lists), or, to pick an overload, the start of its whole signature
    with the '(' and what follows."""
    out = subprocess.run(["nm", "-C", "--defined-only", path],
                         capture_output=True, text=True, check=True).stdout
    found = {}
    wanted = set(names) | {"_start", "main"}
    anonymous = "(anonymous namespace)"
    for line in out.splitlines():
        parts = line.split(" ", 2)
        # A "[clone .cold]" part is not the function's entry.
        if (len(parts) != 3 or parts[1] not in ("T", "t") or
                "[clone " in parts[2]):
            continue
        signature = parts[2]
        name = signature.replace(anonymous, "\0").split("(", 1)[0]
        name = name.replace("\0", anonymous)
        for want in wanted:
            if want in found:
                continue
            bare = want.replace(anonymous, "\0")
            if ("(" in bare and signature.startswith(want)) or name == want:
                found[want] = int(parts[0], 16)
    return found


class Tracer:
    """A tracefs instance of its own and uprobes under a group of its own,
    removed however the script ends."""

    def __init__(self):
        self.group = f"isophase{os.getpid()}"
        self.instance = f"{TRACEFS}/instances/{self.group}"
        self.events = []

    def write(self, path, text, append=False):
        # os.open: Python's "a" mode seeks to the end, which tracefs refuses.
        flags = os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
        fd = os.open(path, flags)
        try:
            os.write(fd, (text + "\n").encode())
        finally:
            os.close(fd)

    def __enter__(self):
        if not os.path.isdir(f"{TRACEFS}/instances"):
            fail(f"no tracefs at {TRACEFS} (mount -t tracefs nodev "
                 f"{TRACEFS}; needs root)")
        os.mkdir(self.instance)
        self.write(f"{self.instance}/trace_clock", "mono")
        self.write(f"{self.instance}/buffer_size_kb", "8192")
        return self

    def probe(self, event, path, offset, at_return=False):
        kind = "r" if at_return else "p"
        try:
            self.write(f"{TRACEFS}/uprobe_events",
                       f"{kind}:{self.group}/{event} {path}:{offset:#x}",
                       append=True)
        except OSError as error:
            fail(f"cannot add a uprobe at {path}:{offset:#x} ({error}); "
                 f"is CONFIG_UPROBE_EVENTS set?")
        self.events.append(event)

    def start(self):
        events = f"{self.instance}/events"
        self.write(f"{events}/{self.group}/enable", "1")
        for name in ("sched_process_fork", "sched_process_exec",
                     "sched_process_exit"):
            self.write(f"{events}/sched/{name}/enable", "1")
        self.write(f"{self.instance}/tracing_on", "1")

    def take(self):
        with open(f"{self.instance}/trace") as f:
            text = f.read()
        self.write(f"{self.instance}/trace", "")
        return text

    def __exit__(self, *exc):
        try:
            self.write(f"{self.instance}/tracing_on", "0")
            self.write(f"{self.instance}/events/enable", "0")
        except OSError:
            pass
        for event in self.events:
            try:
                self.write(f"{TRACEFS}/uprobe_events",
                           f"-:{self.group}/{event}", append=True)
            except OSError:
                pass
        try:
            os.rmdir(self.instance)
        except OSError:
            pass


LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (\w+): (.*)$")


def events_of_run(text, root_pid, labels):
    """The run's events in order: (label, seconds)."""
    pids = {root_pid}
    out = []
    for line in text.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        _, pid, stamp, event, rest = match.groups()
        pid, stamp = int(pid), float(stamp)
        if event == "sched_process_fork":
            fork = re.search(r" pid=(\d+) child_comm=.* child_pid=(\d+)", rest)
            if fork and int(fork.group(1)) in pids:
                pids.add(int(fork.group(2)))
                if int(fork.group(1)) == root_pid:
                    out.append(("fork", stamp))
            continue
        if event == "sched_process_exec":
            exec_pid = re.search(r" pid=(\d+)", rest)
            if exec_pid and int(exec_pid.group(1)) in pids:
                program = re.search(r"filename=(\S+)", rest).group(1)
                who = "exec" if int(exec_pid.group(1)) == root_pid else \
                    f"child exec {os.path.basename(program)}"
                out.append((who, stamp))
            continue
        if event == "sched_process_exit":
            exit_pid = re.search(r" pid=(\d+)", rest)
            if exit_pid and int(exit_pid.group(1)) in pids:
                who = "exit" if int(exit_pid.group(1)) == root_pid else \
                    "child exit"
                out.append((who, stamp))
            continue
        if event in labels and pid in pids:
            # A child runs isoscope's code too (the container's set-up).
            out.append((labels[event] if pid == root_pid else
                        f"[child] {labels[event]}", stamp))
    return out


def quartiles(values):
    if len(values) < 4:
        return values[0], statistics.median(values), values[-1]
    q = statistics.quantiles(values, n=4)
    return q[0], q[1], q[2]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    parser.add_argument("-n", "--runs", type=int, default=50)
    parser.add_argument("--isoscope",
                        default=os.environ.get("ISOSCOPE_BUILD_DIR",
                                               f"{root}/build") + "/isoscope")
    parser.add_argument("--probe", action="append", default=[],
                        help="a demangled function name, as nm -C prints it "
                             "up to its '(', or the start of its signature "
                             "to pick an overload (entry and return are "
                             "probed)")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    if not args or options.runs < 1:
        parser.error("give RUNS >= 1 and the isoscope arguments after --")
    binary = os.path.realpath(options.isoscope)
    if not os.access(binary, os.X_OK):
        fail(f"{binary}: not an executable (build first: scripts/build.sh)")
    if os.geteuid() != 0:
        fail("uprobes need root")

    names = DEFAULT_PROBES + options.probe
    addresses = function_addresses(binary, names)
    for name in options.probe:
        if name not in addresses:
            fail(f"{binary}: no function {name} (inlined or misspelt: "
                 f"nm -C lists the ones that can be probed)")
    segments = load_segments(binary)
    labels = {}
    with Tracer() as tracer:
        loader = interpreter_and_entry(binary)
        if loader:
            path, entry = loader
            tracer.probe("ldso", path, file_offset(path, entry,
                                                   load_segments(path)))
            labels["ldso"] = "ld.so"
        for index, name in enumerate(["_start", "main"] + names):
            if name not in addresses:
                continue
            offset = file_offset(binary, addresses[name], segments)
            tracer.probe(f"f{index}", binary, offset)
            labels[f"f{index}"] = name
            if name not in ("_start", "main"):
                tracer.probe(f"r{index}", binary, offset, at_return=True)
                labels[f"r{index}"] = f"{name} ret"
        tracer.start()

        steps = collections.defaultdict(list)
        order = []
        hits = []
        for _ in range(options.runs):
            started = time.clock_gettime(time.CLOCK_MONOTONIC)
            child = subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL)
            child.wait()
            reaped = time.clock_gettime(time.CLOCK_MONOTONIC)
            run = [("spawn", started)] + events_of_run(
                tracer.take(), child.pid, labels) + [("reaped", reaped)]
            hits.append(sum(1 for label, _ in run if label in
                            labels.values()))
            # A step is named by its two events and, when the same pair
            # recurs in a run, by its occurrence.
            seen = collections.Counter()
            for (before, at_before), (after, at_after) in zip(run, run[1:]):
                seen[(before, after)] += 1
                key = (before, after, seen[(before, after)])
                if key not in steps:
                    order.append(key)
                steps[key].append((at_after - at_before) * 1e6)
            steps["total"].append((reaped - started) * 1e6)

    print(f"# {options.runs} runs of {binary} {' '.join(args)}; "
          f"{statistics.median(hits):.0f} probe hits a run (each a trap)")
    print(f"# {'median':>9} {'p25':>9} {'p75':>9}  runs  step (us)")
    for key in order + ["total"]:
        values = sorted(steps[key])
        low, mid, high = quartiles(values)
        label = key if key == "total" else (
            f"{key[0]} -> {key[1]}" + (f" #{key[2]}" if key[2] > 1 else ""))
        print(f"  {mid:9.1f} {low:9.1f} {high:9.1f} {len(values):5d}  "
              f"{label}")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
