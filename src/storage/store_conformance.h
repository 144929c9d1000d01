// The Store conformance suite: what every backend must do, as GoogleTest cases
// parameterised by a factory. A backend's test instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(&make_sqlite));
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "storage/store.h"

namespace quire::storage::testing {

// Opens a store on fresh storage (reopen = false) or on the storage of the
// previous call (reopen = true), as after a restart.
using StoreFactory = std::function<std::unique_ptr<Store>(bool reopen)>;

class StoreConformance : public ::testing::TestWithParam<StoreFactory*> {
 protected:
  std::unique_ptr<Store> open(bool reopen = false) { return (*GetParam())(reopen); }
};

}  // namespace quire::storage::testing
