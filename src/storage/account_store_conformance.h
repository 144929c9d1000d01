// The AccountStore conformance suite: what every backend must do (uniqueness,
// case-insensitive login, the last-owner rule, soft delete, refresh-token
// rotation with reuse detection, grace and lifetimes, concurrent rotation), as
// GoogleTest cases parameterised by a factory. A backend's test instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, AccountStoreConformance, ::testing::Values(&make_sqlite));
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "storage/account_store.h"

namespace quire::storage::testing {

// Opens a store on fresh, empty storage (reopen = false) or another connection
// to the storage of the last fresh call (reopen = true: a restart, or a second
// thread or node). Connections from reopen calls may be used concurrently.
using AccountStoreFactory = std::function<std::unique_ptr<AccountStore>(bool reopen)>;

class AccountStoreConformance : public ::testing::TestWithParam<AccountStoreFactory*> {
 protected:
  std::unique_ptr<AccountStore> open(bool reopen = false) { return (*GetParam())(reopen); }
  // Fresh storage with three users: u-alice ("Alice", Alice@Example.COM), u-bob, u-carol.
  std::unique_ptr<AccountStore> open_with_users();
};

}  // namespace quire::storage::testing
