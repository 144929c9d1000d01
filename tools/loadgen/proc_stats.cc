// /proc readings (proc_stats.h).
#include "loadgen/proc_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <vector>

namespace quire::loadgen {
namespace {

Error error(std::string message) {
  return Error{kDomain, 1, std::move(message)};
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

// The number after "Key:" in a /proc status file, in kB → bytes.
std::uint64_t status_kb(const std::string& text, std::string_view key) {
  const std::size_t at = text.find(key);
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + key.size(), nullptr, 10) * 1024;
}

double ticks_per_second() {
  static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return kTicks;
}

}  // namespace

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<ProcSample> read_process(int pid) {
  ProcSample s;
  s.t_ns = now_ns();
  const std::string dir = "/proc/" + std::to_string(pid);
  std::string stat;
  std::string status;
  if (!read_file(dir + "/stat", stat) || !read_file(dir + "/status", status)) {
    return error("cannot read " + dir + " (has the process exited?)");
  }
  // Fields after the command name, which may hold spaces: "pid (comm) state ...".
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return error("unexpected " + dir + "/stat");
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) f.push_back(x);
  if (f.size() < 18) return error("short " + dir + "/stat");
  // f[0] is field 3 (state): utime is field 14, stime 15, num_threads 20.
  auto number = [&](std::size_t i) { return std::strtoull(f[i].c_str(), nullptr, 10); };
  s.cpu_seconds = static_cast<double>(number(11) + number(12)) / ticks_per_second();
  s.threads = number(17);
  s.rss = status_kb(status, "VmRSS:");
  s.hwm = status_kb(status, "VmHWM:");
  if (std::string io; read_file(dir + "/io", io)) {
    const std::size_t at = io.find("\nwrite_bytes:");
    if (at != std::string::npos) s.write_bytes = std::strtoull(io.c_str() + at + 13, nullptr, 10);
  }
  return s;
}

Result<std::uint64_t> read_rss(int pid) {
  std::string status;
  if (!read_file("/proc/" + std::to_string(pid) + "/status", status)) return error("cannot read the server's status");
  return status_kb(status, "VmRSS:");
}

ProcSample read_self() {
  ProcSample s;
  s.t_ns = now_ns();
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  s.cpu_seconds = seconds(u.ru_utime) + seconds(u.ru_stime);
  if (auto p = read_process(static_cast<int>(getpid())); p.ok()) {
    s.rss = p->rss;
    s.hwm = p->hwm;
    s.threads = p->threads;
  }
  return s;
}

double machine_busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) / ticks_per_second();
}

}  // namespace quire::loadgen
