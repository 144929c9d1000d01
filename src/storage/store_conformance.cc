// The Store conformance cases (store_conformance.h).
#include "storage/store_conformance.h"

#include <string>
#include <vector>

namespace quire::storage::testing {
namespace {

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

DocKey key(std::string id, std::string workspace = "ws") {
  return DocKey{std::move(workspace), std::move(id)};
}

std::vector<std::uint64_t> append(Store& store, std::vector<AppendEntry> entries) {
  auto seqs = store.append(entries);
  EXPECT_TRUE(seqs.ok()) << (seqs ? "" : seqs.error().to_string());
  return seqs ? *seqs : std::vector<std::uint64_t>{};
}

TEST_P(StoreConformance, UnknownDocumentLoadsEmpty) {
  auto store = open();
  auto doc = store->load(key("nothing-here"));
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->snapshot.empty());
  EXPECT_TRUE(doc->updates.empty());
  EXPECT_EQ(doc->last_seq, 0u);
}

TEST_P(StoreConformance, AppendAssignsSequencePerDocumentInOrder) {
  auto store = open();
  EXPECT_EQ(
      append(*store, {{key("a"), bytes_of("1"), "u"}, {key("b"), bytes_of("x"), "u"}, {key("a"), bytes_of("2"), "v"}}),
      (std::vector<std::uint64_t>{1, 1, 2}));
  EXPECT_EQ(append(*store, {{key("a"), bytes_of("3"), "u"}}), (std::vector<std::uint64_t>{3}));
  auto a = store->load(key("a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->updates, (std::vector<Bytes>{bytes_of("1"), bytes_of("2"), bytes_of("3")}));
  EXPECT_EQ(a->last_seq, 3u);
  auto b = store->load(key("b"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->updates, (std::vector<Bytes>{bytes_of("x")}));
}

TEST_P(StoreConformance, BytesRoundTripExactly) {
  auto store = open();
  Bytes big(1 << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 131 + (i >> 8));
  const Bytes zeros{0, 0, 0, 0};
  append(*store, {{key("d"), big, "u"}, {key("d"), zeros, "u"}});
  auto d = store->load(key("d"));
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->updates.size(), 2u);
  EXPECT_EQ(d->updates[0], big);
  EXPECT_EQ(d->updates[1], zeros);
}

TEST_P(StoreConformance, DocumentNamesAreDataNotPaths) {
  auto store = open();
  const std::string names[] = {"../../etc/passwd", "a'b\"c;--", std::string("nul\0byte", 8), "ünïcødé"};
  for (const std::string& n : names) append(*store, {{key(n), bytes_of(n), "u"}});
  for (const std::string& n : names) {
    auto d = store->load(key(n));
    ASSERT_TRUE(d.ok());
    ASSERT_EQ(d->updates.size(), 1u) << n;
    EXPECT_EQ(d->updates[0], bytes_of(n));
  }
}

TEST_P(StoreConformance, CompactReplacesTheLogWithASnapshot) {
  auto store = open();
  append(*store, {{key("d"), bytes_of("1"), "u"}, {key("d"), bytes_of("2"), "u"}});
  auto upto = store->compact(key("d"), bytes_of("S12"), bytes_of("sv"), kThroughLastSeq);
  ASSERT_TRUE(upto.ok());
  EXPECT_EQ(*upto, 2u);
  append(*store, {{key("d"), bytes_of("3"), "u"}});
  auto d = store->load(key("d"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S12"));
  EXPECT_EQ(d->snapshot_seq, 2u);
  EXPECT_EQ(d->updates, (std::vector<Bytes>{bytes_of("3")}));
  EXPECT_EQ(d->last_seq, 3u);
  auto info = store->info(key("d"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->log_entries, 1u);
  EXPECT_EQ(info->log_bytes, 1u);
  EXPECT_EQ(info->snapshot_bytes, 3u);

  // A second compaction supersedes the first; sequence numbers keep growing.
  ASSERT_TRUE(store->compact(key("d"), bytes_of("S123"), bytes_of("sv"), kThroughLastSeq).ok());
  EXPECT_EQ(append(*store, {{key("d"), bytes_of("4"), "u"}}), (std::vector<std::uint64_t>{4}));
  d = store->load(key("d"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S123"));
  EXPECT_EQ(d->updates, (std::vector<Bytes>{bytes_of("4")}));
  info = store->info(key("d"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->snapshot_bytes, 4u);
}

TEST_P(StoreConformance, CompactWithoutLogStoresTheSnapshot) {
  auto store = open();
  ASSERT_TRUE(store->compact(key("fresh"), bytes_of("S"), bytes_of("sv"), kThroughLastSeq).ok());
  auto d = store->load(key("fresh"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S"));
  EXPECT_TRUE(d->updates.empty());
}

TEST_P(StoreConformance, CompactionLeavesOtherDocumentsAlone) {
  auto store = open();
  append(*store, {{key("a"), bytes_of("1"), "u"}, {key("b"), bytes_of("2"), "u"}});
  ASSERT_TRUE(store->compact(key("a"), bytes_of("SA"), bytes_of("sv"), kThroughLastSeq).ok());
  auto b = store->load(key("b"));
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->snapshot.empty());
  EXPECT_EQ(b->updates, (std::vector<Bytes>{bytes_of("2")}));
}

TEST_P(StoreConformance, EverythingSurvivesReopening) {
  {
    auto store = open();
    append(*store, {{key("a"), bytes_of("1"), "u"}, {key("a"), bytes_of("2"), "u"}});
    ASSERT_TRUE(store->compact(key("a"), bytes_of("S"), bytes_of("sv"), kThroughLastSeq).ok());
    append(*store, {{key("a"), bytes_of("3"), "u"}, {key("z"), bytes_of("9"), "u"}});
  }
  auto store = open(/*reopen=*/true);
  auto a = store->load(key("a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->snapshot, bytes_of("S"));
  EXPECT_EQ(a->updates, (std::vector<Bytes>{bytes_of("3")}));
  EXPECT_EQ(append(*store, {{key("a"), bytes_of("4"), "u"}}), (std::vector<std::uint64_t>{4}));
  auto docs = store->list_documents();
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(*docs, (std::vector<std::string>{"a", "z"}));
}

TEST_P(StoreConformance, CompactCoversOnlyUptoSeq) {
  // A node that has seen the log up to seq 2 compacts while another node's
  // entry 3 is already stored: entry 3 must survive.
  auto store = open();
  append(*store, {{key("d"), bytes_of("1"), "u"}, {key("d"), bytes_of("2"), "u"}, {key("d"), bytes_of("3"), "v"}});
  auto upto = store->compact(key("d"), bytes_of("S12"), bytes_of("sv"), 2);
  ASSERT_TRUE(upto.ok());
  EXPECT_EQ(*upto, 2u);
  auto d = store->load(key("d"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S12"));
  EXPECT_EQ(d->snapshot_seq, 2u);
  EXPECT_EQ(d->updates, (std::vector<Bytes>{bytes_of("3")}));
  EXPECT_EQ(d->last_seq, 3u);
  // Past the end is clamped to the last seq.
  upto = store->compact(key("d"), bytes_of("S123"), bytes_of("sv"), 99);
  ASSERT_TRUE(upto.ok());
  EXPECT_EQ(*upto, 3u);
}

TEST_P(StoreConformance, CompactIsIdempotentAndNeverGoesBack) {
  auto store = open();
  append(*store, {{key("d"), bytes_of("1"), "u"}, {key("d"), bytes_of("2"), "u"}, {key("d"), bytes_of("3"), "u"}});
  ASSERT_TRUE(store->compact(key("d"), bytes_of("S123"), bytes_of("sv"), 3).ok());
  // A slower node's older snapshot arrives later: it changes nothing.
  auto upto = store->compact(key("d"), bytes_of("S1"), bytes_of("sv"), 1);
  ASSERT_TRUE(upto.ok());
  EXPECT_EQ(*upto, 3u);
  auto d = store->load(key("d"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S123"));
  EXPECT_TRUE(d->updates.empty());
  // The same compaction twice is harmless.
  ASSERT_TRUE(store->compact(key("d"), bytes_of("S123"), bytes_of("sv"), 3).ok());
  d = store->load(key("d"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->snapshot, bytes_of("S123"));
  EXPECT_EQ(d->last_seq, 3u);
}

TEST_P(StoreConformance, LoadSinceGivesOnlyTheTail) {
  auto store = open();
  append(*store, {{key("d"), bytes_of("1"), "u"}, {key("d"), bytes_of("2"), "u"}, {key("d"), bytes_of("3"), "u"}});
  auto tail = store->load_since(key("d"), 1);
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(tail->snapshot.empty());
  EXPECT_EQ(tail->updates, (std::vector<Bytes>{bytes_of("2"), bytes_of("3")}));
  EXPECT_EQ(tail->last_seq, 3u);
  tail = store->load_since(key("d"), 3);
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(tail->snapshot.empty());
  EXPECT_TRUE(tail->updates.empty());

  // Compaction dropped entries the caller has not seen: it gets the snapshot.
  ASSERT_TRUE(store->compact(key("d"), bytes_of("S12"), bytes_of("sv"), 2).ok());
  tail = store->load_since(key("d"), 1);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->snapshot, bytes_of("S12"));
  EXPECT_EQ(tail->snapshot_seq, 2u);
  EXPECT_EQ(tail->updates, (std::vector<Bytes>{bytes_of("3")}));
  // Still all in the log after a snapshot: no snapshot needed.
  tail = store->load_since(key("d"), 2);
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(tail->snapshot.empty());
  EXPECT_EQ(tail->updates, (std::vector<Bytes>{bytes_of("3")}));
}

}  // namespace
}  // namespace quire::storage::testing
