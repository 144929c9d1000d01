// The scenarios of `quire-loadgen` (issue 8), each a coroutine over a Run, and
// the table of their names, parameters and defaults that main parses against.
//
//   typing      1. one writer typing at full speed (a closed loop of W updates in flight)
//   writers     2. many writers on one document
//   fanout      3. one writer, many observers of one document
//   awareness   4. N clients moving their cursor once a second
//   join-storm  5. many clients joining a large document at once
//   idle        6. many idle connections on many documents
//   doc-memory  7. resident memory per loaded document vs its encoded size (the traces)
//   docs        8. typing clients on many documents, a sweep of rising offered load
//   smoke       a few clients of both protocols for a few seconds, with assertions
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>
#include <vector>

#include "loadgen/run.h"

namespace quire::loadgen {

struct Scenario {
  std::string_view name;
  std::string_view summary;
  std::vector<Param> params;
  asio::awaitable<void> (*run)(Run& run);
};

const std::vector<Scenario>& scenarios();

asio::awaitable<void> run_typing(Run& run);
asio::awaitable<void> run_writers(Run& run);
asio::awaitable<void> run_fanout(Run& run);
asio::awaitable<void> run_docs(Run& run);
asio::awaitable<void> run_smoke(Run& run);
asio::awaitable<void> run_awareness(Run& run);
asio::awaitable<void> run_join_storm(Run& run);
asio::awaitable<void> run_idle(Run& run);
asio::awaitable<void> run_doc_memory(Run& run);

}  // namespace quire::loadgen
