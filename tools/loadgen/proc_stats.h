// Readings from /proc: a process's CPU time (utime + stime from /proc/PID/stat),
// resident memory (VmRSS) and its peak (VmHWM) from /proc/PID/status, the bytes
// it caused to be written to storage (write_bytes, /proc/PID/io); the
// machine's busy time from /proc/stat (to see what other processes took); the
// load generator's own CPU time (getrusage).
// Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace quire::loadgen {

inline constexpr std::string_view kDomain = "loadgen";

struct ProcSample {
  std::int64_t t_ns = 0;   // steady clock when read
  double cpu_seconds = 0;  // user + system
  std::uint64_t rss = 0;   // bytes
  std::uint64_t hwm = 0;   // peak resident bytes since the process started
  std::uint64_t threads = 0;
  std::uint64_t write_bytes = 0;  // page-cache bytes dirtied for storage, whole pages
};

Result<ProcSample> read_process(int pid);
// Resident bytes only (one small read), for frequent peak sampling.
Result<std::uint64_t> read_rss(int pid);

// This process: CPU seconds (user + system) and resident bytes.
ProcSample read_self();

// Busy seconds of the whole machine, every core (user, nice, system, irq, softirq, steal).
double machine_busy_seconds();

std::int64_t now_ns();  // CLOCK_MONOTONIC

}  // namespace quire::loadgen
