// crdt_doc_bench: the engine's side of `make bench` (scripts/bench-engine.sh runs
// it beside Yjs, ywasm, Automerge and diamond-types on the same traces).
//
//   crdt_doc_bench TRACE_DIR NAME TASK [RUNS]
//
// TASK: apply   — apply the trace's per-edit updates to a fresh document
//       load    — load the final encoded document (NAME.yjs.bin)
//       encode  — encode the loaded document
//       memory  — heap bytes held by a loaded document (glibc mallinfo2)
//       replay  — replay the editing trace through the text API, one transaction
//                 per trace transaction (traces/editing-traces/NAME.json.gz,
//                 read through `gzip -dc`; concurrent traces: use their _flat form;
//                 the patches are taken out of the JSON before timing, as
//                 bench.mjs does)
// Timing as bench.mjs times the peers: the first run is checked and not timed,
// warm-up runs follow until 1 s and 5 runs have passed (one when a run takes
// more than 1 s), then RUNS timed runs, each on a fresh document.
// Prints one JSON line: {"task","trace","runs","warmup_runs","ms":[…],"median_ms",…}.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "crdt/doc.h"
#include "crdt/framing.h"
#include "crdt/test_support.h"

using namespace quire;
using namespace quire::crdt;

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Timing {
  std::vector<double> ms;
  int warmup_runs = 0;
};

// once(first) makes one run and returns its milliseconds, or a negative number
// if the run failed (the first one also checks its result).
template <class F>
Timing run_timed(int runs, F&& once) {
  Timing t;
  const double first = once(true);
  if (first < 0) {
    std::exit(1);
  }
  t.warmup_runs = 1;
  const int min_runs = first > 1000 ? 1 : 5;
  for (double spent = 0; (t.warmup_runs < min_runs || spent < 1000) && t.warmup_runs < 500; ++t.warmup_runs) {
    const double ms = once(false);
    if (ms < 0) std::exit(1);
    spent += ms;
  }
  while (static_cast<int>(t.ms.size()) < runs) {
    const double ms = once(false);
    if (ms < 0) std::exit(1);
    t.ms.push_back(ms);
  }
  return t;
}

void print(const char* task, const std::string& trace, Timing t, const std::string& extra) {
  std::vector<double>& ms = t.ms;
  std::sort(ms.begin(), ms.end());
  std::string list;
  for (double m : ms) {
    if (!list.empty()) list += ',';
    list += std::to_string(m);
  }
  std::printf("{\"task\":\"%s\",\"trace\":\"%s\",\"runs\":%zu,\"warmup_runs\":%d,\"ms\":[%s],\"median_ms\":%f%s}\n",
              task, trace.c_str(), ms.size(), t.warmup_runs, list.c_str(), ms.empty() ? 0.0 : ms[ms.size() / 2],
              extra.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: crdt_doc_bench TRACE_DIR NAME apply|load|encode|memory [RUNS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string name = argv[2];
  const std::string task = argv[3];
  const int runs = argc > 4 ? std::atoi(argv[4]) : 5;
  const Bytes state = testing::read_file(dir + "/" + name + ".yjs.bin");
  if (task == "apply") {
    const Bytes framed = testing::read_file(dir + "/" + name + ".updates.bin");
    const auto frames = *split_frames(framed);
    const Timing t = run_timed(runs, [&](bool first) {
      const double t0 = now_ms();
      Doc d;
      for (ByteView u : frames) {
        if (!d.apply_update(u).ok()) return -1.0;
      }
      const double ms = now_ms() - t0;
      if (first && *d.encode_state_as_update() != state) {
        std::fprintf(stderr, "apply: state differs from Yjs's\n");
        return -1.0;
      }
      return ms;
    });
    print("apply", name, t, ",\"updates\":" + std::to_string(frames.size()));
  } else if (task == "load") {
    const Timing t = run_timed(runs, [&](bool first) {
      const double t0 = now_ms();
      Doc d;
      if (!d.apply_update(state).ok()) return -1.0;
      const double ms = now_ms() - t0;
      if (first && *d.encode_state_as_update() != state) {
        std::fprintf(stderr, "load: state differs from what was loaded\n");
        return -1.0;
      }
      return ms;
    });
    print("load", name, t, ",\"bytes\":" + std::to_string(state.size()));
  } else if (task == "encode") {
    Doc d;
    if (!d.apply_update(state).ok()) return 1;
    const Timing t = run_timed(runs, [&](bool) {
      const double t0 = now_ms();
      auto out = d.encode_state_as_update();
      const double ms = now_ms() - t0;
      return out && *out == state ? ms : -1.0;
    });
    print("encode", name, t, ",\"bytes\":" + std::to_string(state.size()));
  } else if (task == "replay") {
    std::string json;
    {
      const std::string cmd = "gzip -dc '" + dir + "/../editing-traces/" + name + ".json.gz'";
      std::FILE* p = popen(cmd.c_str(), "r");
      if (p == nullptr) return 1;
      char buf[1 << 16];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) json.append(buf, n);
      if (pclose(p) != 0) return 1;
    }
    Any trace;
    if (!parse_json(json, trace, 64)) {
      std::fprintf(stderr, "replay: cannot parse the trace\n");
      return 1;
    }
    const Bytes expected_text = testing::read_file(dir + "/" + name + ".txt");
    // The patches as plain values before timing, as bench.mjs maps the trace's
    // txns to arrays of patches first.
    struct Patch {
      std::uint64_t pos;
      std::uint64_t del;
      std::string ins;
    };
    std::vector<std::vector<Patch>> txns;
    std::uint64_t patches = 0;
    for (const Any& txn : trace.get("txns")->array) {
      auto& out = txns.emplace_back();
      for (const Any& p : txn.get("patches")->array) {
        out.push_back({static_cast<std::uint64_t>(p.array[0].number), static_cast<std::uint64_t>(p.array[1].number),
                       p.array[2].str});
      }
      patches += out.size();
    }
    const Timing t = run_timed(runs, [&](bool first) {
      const double t0 = now_ms();
      Doc d({.gc = true, .client_id = 1, .limits = {}});
      for (const auto& ps : txns) {
        auto edit = [&]() -> Status {
          for (const Patch& p : ps) {
            if (p.del > 0 && !d.delete_text("text", p.pos, p.del).ok()) return Error{"bench", 1, "delete failed"};
            if (!p.ins.empty() && !d.insert_text("text", p.pos, p.ins).ok()) return Error{"bench", 1, "insert failed"};
          }
          return {};
        };
        if (ps.size() == 1) {
          if (!edit().ok()) return -1.0;
        } else if (!d.transact(edit).ok()) {
          return -1.0;
        }
      }
      const double ms = now_ms() - t0;
      if (first && d.text("text") != std::string(expected_text.begin(), expected_text.end())) {
        std::fprintf(stderr, "replay: final text differs from the trace's\n");
        return -1.0;
      }
      return ms;
    });
    print("replay", name, t, ",\"txns\":" + std::to_string(txns.size()) + ",\"patches\":" + std::to_string(patches));
  } else if (task == "memory") {
    malloc_trim(0);
    const std::size_t before = mallinfo2().uordblks;
    auto* d = new Doc();
    if (!d->apply_update(state).ok()) return 1;
    const std::size_t held = mallinfo2().uordblks - before;
    char extra[160];
    std::snprintf(extra, sizeof extra, ",\"heap_bytes\":%zu,\"encoded_bytes\":%zu,\"ratio\":%.2f", held, state.size(),
                  static_cast<double>(held) / static_cast<double>(state.size()));
    print("memory", name, Timing{}, extra);
    delete d;
  } else {
    std::fprintf(stderr, "unknown task %s\n", task.c_str());
    return 2;
  }
  return 0;
}
