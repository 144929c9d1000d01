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
//                 read through `gzip -dc`; concurrent traces: use their _flat form)
// Prints one JSON line: {"task","trace","runs","ms":[…],"median_ms",…}.
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

void print(const char* task, const std::string& trace, std::vector<double> ms, const std::string& extra) {
  std::sort(ms.begin(), ms.end());
  std::string list;
  for (double m : ms) {
    if (!list.empty()) list += ',';
    list += std::to_string(m);
  }
  std::printf("{\"task\":\"%s\",\"trace\":\"%s\",\"runs\":%zu,\"ms\":[%s],\"median_ms\":%f%s}\n", task, trace.c_str(),
              ms.size(), list.c_str(), ms.empty() ? 0.0 : ms[ms.size() / 2], extra.c_str());
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
  std::vector<double> ms;

  if (task == "apply") {
    const Bytes framed = testing::read_file(dir + "/" + name + ".updates.bin");
    const auto frames = *split_frames(framed);
    for (int r = 0; r < runs; ++r) {
      const double t0 = now_ms();
      Doc d;
      for (ByteView u : frames) {
        if (!d.apply_update(u).ok()) return 1;
      }
      ms.push_back(now_ms() - t0);
      if (r == 0 && *d.encode_state_as_update() != state) {
        std::fprintf(stderr, "apply: state differs from Yjs's\n");
        return 1;
      }
    }
    print("apply", name, ms, ",\"updates\":" + std::to_string(frames.size()));
  } else if (task == "load") {
    for (int r = 0; r < runs; ++r) {
      const double t0 = now_ms();
      Doc d;
      if (!d.apply_update(state).ok()) return 1;
      ms.push_back(now_ms() - t0);
    }
    print("load", name, ms, ",\"bytes\":" + std::to_string(state.size()));
  } else if (task == "encode") {
    Doc d;
    if (!d.apply_update(state).ok()) return 1;
    for (int r = 0; r < runs; ++r) {
      const double t0 = now_ms();
      auto out = d.encode_state_as_update();
      ms.push_back(now_ms() - t0);
      if (!out || *out != state) return 1;
    }
    print("encode", name, ms, ",\"bytes\":" + std::to_string(state.size()));
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
    const auto& txns = trace.get("txns")->array;
    std::uint64_t patches = 0;
    for (int r = 0; r < runs; ++r) {
      const double t0 = now_ms();
      Doc d({.gc = true, .client_id = 1, .limits = {}});
      for (const Any& txn : txns) {
        const auto& ps = txn.get("patches")->array;
        auto edit = [&]() -> Status {
          for (const Any& p : ps) {
            const auto pos = static_cast<std::uint64_t>(p.array[0].number);
            const auto del = static_cast<std::uint64_t>(p.array[1].number);
            const std::string& ins = p.array[2].str;
            if (del > 0 && !d.delete_text("text", pos, del).ok()) return Error{"bench", 1, "delete failed"};
            if (!ins.empty() && !d.insert_text("text", pos, ins).ok()) return Error{"bench", 1, "insert failed"};
          }
          return {};
        };
        if (ps.size() == 1) {
          if (!edit().ok()) return 1;
        } else if (!d.transact(edit).ok()) {
          return 1;
        }
        if (r == 0) patches += ps.size();
      }
      ms.push_back(now_ms() - t0);
      if (r == 0 && d.text("text") != std::string(expected_text.begin(), expected_text.end())) {
        std::fprintf(stderr, "replay: final text differs from the trace's\n");
        return 1;
      }
    }
    print("replay", name, ms, ",\"txns\":" + std::to_string(txns.size()) + ",\"patches\":" + std::to_string(patches));
  } else if (task == "memory") {
    malloc_trim(0);
    const std::size_t before = mallinfo2().uordblks;
    auto* d = new Doc();
    if (!d->apply_update(state).ok()) return 1;
    const std::size_t held = mallinfo2().uordblks - before;
    char extra[160];
    std::snprintf(extra, sizeof extra, ",\"heap_bytes\":%zu,\"encoded_bytes\":%zu,\"ratio\":%.2f", held, state.size(),
                  static_cast<double>(held) / static_cast<double>(state.size()));
    print("memory", name, {}, extra);
    delete d;
  } else {
    std::fprintf(stderr, "unknown task %s\n", task.c_str());
    return 2;
  }
  return 0;
}
