// The Store conformance cases (store_conformance.h).
#include "storage/store_conformance.h"

#include <string>
#include <vector>

namespace quire::storage::testing {
namespace {

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

std::vector<std::uint64_t> append(Store& store, std::vector<AppendEntry> entries) {
  auto seqs = store.append(entries);
  EXPECT_TRUE(seqs.ok()) << (seqs ? "" : seqs.error().to_string());
  return seqs ? *seqs : std::vector<std::uint64_t>{};
}

TEST_P(StoreConformance, UnknownDocumentLoadsEmpty) {
  auto store = open();
  auto doc = store->load("nothing-here");
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->snapshot.empty());
  EXPECT_TRUE(doc->updates.empty());
  EXPECT_EQ(doc->last_seq, 0u);
}

TEST_P(StoreConformance, AppendAssignsSequencePerDocumentInOrder) {
  auto store = open();
  EXPECT_EQ(append(*store, {{"a", bytes_of("1"), "u"}, {"b", bytes_of("x"), "u"}, {"a", bytes_of("2"), "v"}}),
            (std::vector<std::uint64_t>{1, 1, 2}));
  EXPECT_EQ(append(*store, {{"a", bytes_of("3"), "u"}}), (std::vector<std::uint64_t>{3}));
  auto a = store->load("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->updates, (std::vector<Bytes>{bytes_of("1"), bytes_of("2"), bytes_of("3")}));
  EXPECT_EQ(a->last_seq, 3u);
  auto b = store->load("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->updates, (std::vector<Bytes>{bytes_of("x")}));
}

TEST_P(StoreConformance, BytesRoundTripExactly) {
  auto store = open();
  Bytes big(1 << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 131 + (i >> 8));
  const Bytes zeros{0, 0, 0, 0};
  append(*store, {{"d", big, "u"}, {"d", zeros, "u"}});
  auto d = store->load("d");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->updates.size(), 2u);
  EXPECT_EQ(d->updates[0], big);
  EXPECT_EQ(d->updates[1], zeros);
}

TEST_P(StoreConformance, DocumentNamesAreDataNotPaths) {
  auto store = open();
  const std::string names[] = {"../../etc/passwd", "a'b\"c;--", std::string("nul\0byte", 8), "ünïcødé"};
  for (const std::string& n : names) append(*store, {{n, bytes_of(n), "u"}});
  for (const std::string& n : names) {
    auto d = store->load(n);
    ASSERT_TRUE(d.ok());
    ASSERT_EQ(d->updates.size(), 1u) << n;
    EXPECT_EQ(d->updates[0], bytes_of(n));
  }
}

TEST_P(StoreConformance, CompactReplacesTheLogWithASnapshot) {
  auto store = open();
  append(*store, {{"d", bytes_of("1"), "u"}, {"d", bytes_of("2"), "u"}});
  auto upto = store->compact("d", bytes_of("S12"), bytes_of("sv"));
  ASSERT_TRUE(upto.ok());
  EXPECT_EQ(*upto, 2u);
  append(*store, {{"d", bytes_of("3"), "u"}});
  auto d = store->load("d");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S12"));
  EXPECT_EQ(d->snapshot_seq, 2u);
  EXPECT_EQ(d->updates, (std::vector<Bytes>{bytes_of("3")}));
  EXPECT_EQ(d->last_seq, 3u);
  auto info = store->info("d");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->log_entries, 1u);
  EXPECT_EQ(info->log_bytes, 1u);
  EXPECT_EQ(info->snapshot_bytes, 3u);

  // A second compaction supersedes the first; sequence numbers keep growing.
  ASSERT_TRUE(store->compact("d", bytes_of("S123"), bytes_of("sv")).ok());
  EXPECT_EQ(append(*store, {{"d", bytes_of("4"), "u"}}), (std::vector<std::uint64_t>{4}));
  d = store->load("d");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S123"));
  EXPECT_EQ(d->updates, (std::vector<Bytes>{bytes_of("4")}));
  info = store->info("d");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->snapshot_bytes, 4u);
}

TEST_P(StoreConformance, CompactWithoutLogStoresTheSnapshot) {
  auto store = open();
  ASSERT_TRUE(store->compact("fresh", bytes_of("S"), bytes_of("sv")).ok());
  auto d = store->load("fresh");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S"));
  EXPECT_TRUE(d->updates.empty());
}

TEST_P(StoreConformance, CompactionLeavesOtherDocumentsAlone) {
  auto store = open();
  append(*store, {{"a", bytes_of("1"), "u"}, {"b", bytes_of("2"), "u"}});
  ASSERT_TRUE(store->compact("a", bytes_of("SA"), bytes_of("sv")).ok());
  auto b = store->load("b");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->snapshot.empty());
  EXPECT_EQ(b->updates, (std::vector<Bytes>{bytes_of("2")}));
}

TEST_P(StoreConformance, EverythingSurvivesReopening) {
  {
    auto store = open();
    append(*store, {{"a", bytes_of("1"), "u"}, {"a", bytes_of("2"), "u"}});
    ASSERT_TRUE(store->compact("a", bytes_of("S"), bytes_of("sv")).ok());
    append(*store, {{"a", bytes_of("3"), "u"}, {"z", bytes_of("9"), "u"}});
  }
  auto store = open(/*reopen=*/true);
  auto a = store->load("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->snapshot, bytes_of("S"));
  EXPECT_EQ(a->updates, (std::vector<Bytes>{bytes_of("3")}));
  EXPECT_EQ(append(*store, {{"a", bytes_of("4"), "u"}}), (std::vector<std::uint64_t>{4}));
  auto docs = store->list_documents();
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(*docs, (std::vector<std::string>{"a", "z"}));
}

}  // namespace
}  // namespace quire::storage::testing
