// Google Benchmark for the update algebra on the real editing traces
// (../shared/traces/yjs). Figures, not tests: `make bench` records them in
// docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include "crdt/framing.h"
#include "crdt/test_support.h"
#include "crdt/update.h"

namespace quire::crdt {
namespace {

const Limits kTraceLimits{.max_structs = 1u << 26, .max_depth = 64};

struct Trace {
  Bytes updates_file;
  std::vector<ByteView> updates;
  Bytes final_state;  // Yjs's encodeStateAsUpdate of the final document
  Bytes merged;       // our merge of all updates
};

const Trace& trace(const std::string& name) {
  static std::map<std::string, Trace> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Trace& t = cache[name];
  t.updates_file = testing::read_file(testing::shared_path("traces/yjs/" + name + ".updates.bin"));
  t.updates = *split_frames(t.updates_file);
  t.final_state = testing::read_file(testing::shared_path("traces/yjs/" + name + ".yjs.bin"));
  t.merged = *merge_updates(t.updates, UpdateFormat::kV1, kTraceLimits);
  return t;
}

void BM_MergeAllUpdates(benchmark::State& state, const char* name) {
  const Trace& t = trace(name);
  for (auto _ : state) {
    auto merged = merge_updates(t.updates, UpdateFormat::kV1, kTraceLimits);
    benchmark::DoNotOptimize(merged);
  }
  state.counters["updates"] = static_cast<double>(t.updates.size());
  state.counters["updates/s"] =
      benchmark::Counter(static_cast<double>(t.updates.size()), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DecodeFinalState(benchmark::State& state, const char* name) {
  const Trace& t = trace(name);
  for (auto _ : state) {
    auto d = decode_update(t.final_state, UpdateFormat::kV1, kTraceLimits);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.final_state.size()));
}

void BM_EncodeFinalState(benchmark::State& state, const char* name) {
  const Trace& t = trace(name);
  auto decoded = decode_update(t.final_state, UpdateFormat::kV1, kTraceLimits);
  for (auto _ : state) {
    auto e = encode_update(*decoded, UpdateFormat::kV1);
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.final_state.size()));
}

void BM_DiffAgainstHalfState(benchmark::State& state, const char* name) {
  const Trace& t = trace(name);
  // The state vector of the first half of the edits.
  const std::size_t half = t.updates.size() / 2;
  auto first_half = merge_updates(std::span(t.updates).first(half), UpdateFormat::kV1, kTraceLimits);
  auto sv = state_vector_from_update(*first_half, UpdateFormat::kV1, kTraceLimits);
  for (auto _ : state) {
    auto d = diff_update(t.merged, *sv, UpdateFormat::kV1, kTraceLimits);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.merged.size()));
}

void BM_StateVectorFromUpdate(benchmark::State& state, const char* name) {
  const Trace& t = trace(name);
  for (auto _ : state) {
    auto sv = state_vector_from_update(t.merged, UpdateFormat::kV1, kTraceLimits);
    benchmark::DoNotOptimize(sv);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.merged.size()));
}

void BM_ConvertV1ToV2(benchmark::State& state, const char* name) {
  const Trace& t = trace(name);
  for (auto _ : state) {
    auto v2 = convert_update(t.final_state, UpdateFormat::kV1, UpdateFormat::kV2, kTraceLimits);
    benchmark::DoNotOptimize(v2);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.final_state.size()));
}

BENCHMARK_CAPTURE(BM_MergeAllUpdates, automerge_paper, "automerge-paper")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MergeAllUpdates, seph_blog1, "seph-blog1")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MergeAllUpdates, friendsforever, "friendsforever")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MergeAllUpdates, git_makefile, "git-makefile")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeFinalState, automerge_paper, "automerge-paper")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DecodeFinalState, node_nodecc, "node_nodecc")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EncodeFinalState, automerge_paper, "automerge-paper")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EncodeFinalState, node_nodecc, "node_nodecc")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DiffAgainstHalfState, automerge_paper, "automerge-paper")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_StateVectorFromUpdate, automerge_paper, "automerge-paper")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ConvertV1ToV2, automerge_paper, "automerge-paper")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace quire::crdt

BENCHMARK_MAIN();
