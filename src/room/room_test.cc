#include "room/room.h"

#include <gtest/gtest.h>

#include <deque>

namespace quire::room {
namespace {

using protocol::Frame;
using protocol::MessageType;
using protocol::Protocol;
using protocol::SyncType;

// Records what a connection would have been sent, decoded.
class FakeMember : public Member {
 public:
  explicit FakeMember(Protocol p) : protocol_(p) {}
  void send(SharedFrame frame) override {
    frames.push_back(*frame);
    last_shared = std::move(frame);
  }
  SharedFrame last_shared;
  void close(int code, std::string reason) override {
    close_code = code;
    close_reason = std::move(reason);
  }
  // The decoded frames (as the client would parse them), then forgotten.
  std::vector<Frame> take() {
    std::vector<Frame> out;
    held_ = std::move(frames);
    frames.clear();
    for (const Bytes& b : held_) {
      auto f = protocol::decode_frame(protocol_, b);
      // Server-only types don't decode as client frames: keep their raw type.
      if (f) {
        out.push_back(*f);
      } else {
        Frame raw;
        raw.type = static_cast<MessageType>(b[protocol_ == Protocol::kHocuspocus ? 1 + b[0] : 0]);
        raw.awareness = ByteView(b).last(1);  // SyncStatus: the trailing 0/1
        out.push_back(raw);
      }
    }
    return out;
  }
  std::vector<Bytes> frames;
  int close_code = 0;
  std::string close_reason;

 private:
  Protocol protocol_;
  std::vector<Bytes> held_;
};

// A journal whose commits the test releases by hand.
class FakeJournal : public Journal {
 public:
  void append(Bytes update, std::string user, std::function<void(Status)> done) override {
    appended.push_back(std::move(update));
    users.push_back(std::move(user));
    waiting.push_back(std::move(done));
  }
  void barrier(std::function<void(Status)> done) override { waiting.push_back(std::move(done)); }
  void compact(Bytes snapshot, Bytes, std::function<void(Status)> done) override {
    snapshots.push_back(std::move(snapshot));
    waiting.push_back(std::move(done));
  }
  void commit_all(Status s = {}) {
    while (!waiting.empty()) {
      auto done = std::move(waiting.front());
      waiting.pop_front();
      done(s);
    }
  }
  std::vector<Bytes> appended;
  std::vector<std::string> users;
  std::vector<Bytes> snapshots;
  std::deque<std::function<void(Status)>> waiting;
};

Bytes text_update(std::uint64_t client, std::string_view text) {
  crdt::Doc d(crdt::DocOptions{.client_id = client});
  return d.insert_text("t", 0, text).value();
}

Bytes hp(SyncType type, ByteView payload) {
  return protocol::sync_frame(Protocol::kHocuspocus, "doc", type, payload);
}

class RoomTest : public ::testing::Test {
 protected:
  RoomTest() : room("doc", journal, limits()) { EXPECT_TRUE(room.load({}, {}).ok()); }
  static RoomLimits limits() {
    RoomLimits l;
    l.compact_after_updates = 3;
    return l;
  }
  std::shared_ptr<FakeMember> join(MemberId id, Protocol p, bool read_only = false, std::string name = "") {
    auto m = std::make_shared<FakeMember>(p);
    room.join(
        id,
        MemberInfo{p, "doc", read_only, "user" + std::to_string(id), std::move(name), "session" + std::to_string(id)},
        m);
    return m;
  }
  Verdict send(MemberId id, Protocol p, const Bytes& frame) {
    auto f = protocol::decode_frame(p, frame);
    EXPECT_TRUE(f.ok());
    return room.receive(id, *f, now);
  }
  FakeJournal journal;
  Room room;
  std::int64_t now = 1000;
};

TEST_F(RoomTest, HocuspocusStep1IsAnsweredWithStep1ThenStep2) {
  auto a = join(1, Protocol::kHocuspocus);
  EXPECT_TRUE(a->take().empty());  // nothing before the client speaks
  send(1, Protocol::kHocuspocus, hp(SyncType::kStep1, Bytes{0}));
  auto got = a->take();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].sync.type, SyncType::kStep1);
  EXPECT_EQ(got[1].sync.type, SyncType::kStep2);
}

TEST_F(RoomTest, YWebsocketMembersGetTheServersStep1OnJoin) {
  auto a = join(1, Protocol::kYWebsocket);
  auto got = a->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].sync.type, SyncType::kStep1);
}

TEST_F(RoomTest, UpdatesAreBroadcastAtOnceAndAcknowledgedOnlyAfterCommit) {
  auto a = join(1, Protocol::kHocuspocus);
  auto b = join(2, Protocol::kYWebsocket);
  b->take();
  EXPECT_EQ(send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(7, "hi"))).close_code, 0);
  auto to_b = b->take();
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0].sync.type, SyncType::kUpdate);
  EXPECT_TRUE(a->take().empty()) << "no echo and no ack before the commit";
  ASSERT_EQ(journal.appended.size(), 1u);
  EXPECT_EQ(journal.users[0], "user1");
  journal.commit_all();
  auto to_a = a->take();
  ASSERT_EQ(to_a.size(), 1u);
  EXPECT_EQ(to_a[0].type, MessageType::kSyncStatus);
  EXPECT_EQ(to_a[0].awareness[0], 1);
  EXPECT_EQ(room.doc().text("t"), "hi");
}

TEST_F(RoomTest, ADuplicateWaitsForTheCommitOfWhatItRepeats) {
  auto a = join(1, Protocol::kHocuspocus);
  const Bytes u = text_update(7, "hi");
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, u));
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, u));
  EXPECT_EQ(journal.appended.size(), 1u) << "a duplicate is not stored again";
  EXPECT_TRUE(a->take().empty()) << "nor acknowledged before the original commits";
  journal.commit_all();
  EXPECT_EQ(a->take().size(), 2u);
}

TEST_F(RoomTest, TheSharedFullStateCarriesPendingStructs) {
  auto a = join(1, Protocol::kHocuspocus);
  send(1, Protocol::kHocuspocus, hp(SyncType::kStep1, Bytes{0}));  // caches the (empty) full state
  a->take();
  crdt::Doc d(crdt::DocOptions{.client_id = 5});
  (void)d.insert_text("t", 0, "ab").value();
  const Bytes second = d.insert_text("t", 2, "cd").value();  // depends on the first, which never came
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, second));
  EXPECT_TRUE(room.doc().has_pending_structs());
  auto b = join(2, Protocol::kHocuspocus);
  send(2, Protocol::kHocuspocus, hp(SyncType::kStep1, Bytes{0}));
  auto got = b->take();
  ASSERT_EQ(got.size(), 2u);
  crdt::Doc joiner;
  ASSERT_TRUE(joiner.apply_update(got[1].sync.payload).ok());
  EXPECT_TRUE(joiner.has_pending_structs()) << "a joiner gets what the server holds, pending structs included";
}

TEST_F(RoomTest, ReadOnlyMembersChangeNothing) {
  auto ro = join(1, Protocol::kHocuspocus, /*read_only=*/true);
  auto rw = join(2, Protocol::kHocuspocus);
  const Verdict v = send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(7, "x")));
  EXPECT_EQ(v.close_code, 0);
  EXPECT_EQ(v.rejected, "read_only");
  auto got = ro->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, MessageType::kSyncStatus);
  EXPECT_EQ(got[0].awareness[0], 0);
  EXPECT_TRUE(rw->take().empty());
  EXPECT_TRUE(journal.appended.empty());
  EXPECT_EQ(room.doc().text("t"), "");
  // A Step2 that brings nothing new is fine.
  send(1, Protocol::kHocuspocus, hp(SyncType::kStep2, Bytes{0, 0}));
  got = ro->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].awareness[0], 1);
}

// Hocuspocus answers a read-only member's Step2 by Y.snapshotContainsUpdate:
// success only when the update holds nothing the document lacks — deletions
// included, and structs past a gap in a client's clocks.
TEST_F(RoomTest, ReadOnlyStep2SucceedsOnlyWhenItBringsNothingNew) {
  auto ro = join(1, Protocol::kHocuspocus, /*read_only=*/true);
  join(2, Protocol::kHocuspocus);
  crdt::Doc writer(crdt::DocOptions{.client_id = 7});
  const Bytes typed = writer.insert_text("t", 0, "hello").value();
  ASSERT_EQ(send(2, Protocol::kHocuspocus, hp(SyncType::kUpdate, typed)).close_code, 0);
  ro->take();
  const auto status_of = [&](const Bytes& update) {
    send(1, Protocol::kHocuspocus, hp(SyncType::kStep2, update));
    auto got = ro->take();
    EXPECT_EQ(got.size(), 1u);
    return !got.empty() && got[0].type == MessageType::kSyncStatus && got[0].awareness[0] == 1;
  };
  EXPECT_TRUE(status_of(typed));
  EXPECT_FALSE(status_of(writer.delete_text("t", 0, 1).value())) << "a deletion the document lacks";
  const Bytes more = writer.insert_text("t", 0, "x").value();
  EXPECT_FALSE(status_of(more));
  EXPECT_FALSE(status_of(writer.insert_text("t", 0, "y").value())) << "a struct after a gap";
  EXPECT_EQ(room.doc().text("t"), "hello");
}

// SECURITY row 25: a role changed mid-session judges the very next frame.
TEST_F(RoomTest, SetReadOnlyTakesEffectOnTheNextUpdate) {
  auto a = join(1, Protocol::kHocuspocus);
  auto b = join(2, Protocol::kHocuspocus, /*read_only=*/true);
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(7, "a")));
  ASSERT_EQ(journal.appended.size(), 1u);
  journal.commit_all();
  a->take();
  b->take();

  room.set_read_only(1, true);  // the last editor: what it wrote is compacted
  EXPECT_EQ(journal.snapshots.size(), 1u);
  const Verdict v = send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(8, "b")));
  EXPECT_EQ(v.rejected, "read_only");
  auto got = a->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, MessageType::kSyncStatus);
  EXPECT_EQ(got[0].awareness[0], 0);  // 08 00
  EXPECT_TRUE(b->take().empty());
  EXPECT_EQ(journal.appended.size(), 1u);
  EXPECT_EQ(room.doc().text("t"), "a");

  room.set_read_only(2, false);   // an upgrade
  room.set_read_only(99, false);  // unknown: ignored
  send(2, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(9, "c")));
  EXPECT_EQ(journal.appended.size(), 2u);
  EXPECT_EQ(room.doc().text("t").size(), 2u);
  EXPECT_EQ(a->take().size(), 1u);  // the broadcast reaches the now read-only member
}

TEST_F(RoomTest, ABadUpdateClosesTheSenderAndChangesNothing) {
  auto a = join(1, Protocol::kHocuspocus);
  auto b = join(2, Protocol::kHocuspocus);
  const Verdict v = send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, Bytes{1, 1, 5, 0, 0xff}));
  EXPECT_EQ(v.close_code, kCloseBadMessage);
  EXPECT_EQ(v.rejected, "bad_update");
  EXPECT_TRUE(b->take().empty());
  EXPECT_TRUE(journal.appended.empty());
}

TEST_F(RoomTest, DocumentSizeIsCapped) {
  RoomLimits l;
  l.max_document_bytes = 10;
  Room small("doc", journal, l);
  ASSERT_TRUE(small.load({}, {}).ok());
  auto a = std::make_shared<FakeMember>(Protocol::kHocuspocus);
  small.join(1, MemberInfo{Protocol::kHocuspocus, "doc", false, "u", "", "s"}, a);
  const Bytes frame = hp(SyncType::kUpdate, text_update(7, "longer than ten"));
  auto f = protocol::decode_frame(Protocol::kHocuspocus, frame);
  EXPECT_EQ(small.receive(1, *f, 0).close_code, kCloseDocumentTooLarge);
  EXPECT_EQ(small.doc().text("t"), "");
}

TEST_F(RoomTest, TheSizeCapCountsTheDocumentNotItsHistory) {
  RoomLimits l;
  l.max_document_bytes = 200000;
  l.compact_after_bytes = 1u << 30;  // no compaction: only the measurement may save it
  Room room_("doc", journal, l);
  ASSERT_TRUE(room_.load({}, {}).ok());
  auto a = std::make_shared<FakeMember>(Protocol::kHocuspocus);
  room_.join(1, MemberInfo{Protocol::kHocuspocus, "doc", false, "u", "", "s"}, a);
  crdt::Doc d(crdt::DocOptions{.client_id = 9});
  const std::string chunk(90000, 'x');
  // Paste and delete five times: 450 kB of updates, a document of a few bytes.
  for (int i = 0; i < 5; ++i) {
    for (const Bytes& u : {d.insert_text("t", 0, chunk).value(), d.delete_text("t", 0, chunk.size()).value()}) {
      const Bytes frame = hp(SyncType::kUpdate, u);  // the decoded frame views these bytes
      auto f = protocol::decode_frame(Protocol::kHocuspocus, frame);
      ASSERT_EQ(room_.receive(1, *f, 0).close_code, 0) << "round " << i;
    }
  }
  // A document that really is too big is still refused.
  const Bytes big_frame = hp(SyncType::kUpdate, d.insert_text("t", 0, std::string(250000, 'y')).value());
  auto big = protocol::decode_frame(Protocol::kHocuspocus, big_frame);
  EXPECT_EQ(room_.receive(1, *big, 0).close_code, kCloseDocumentTooLarge);
}

TEST_F(RoomTest, CompactsAfterTheThresholdAndWhenTheLastEditorLeaves) {
  join(1, Protocol::kHocuspocus);
  for (int i = 0; i < 3; ++i) {
    crdt::Doc d(crdt::DocOptions{.client_id = static_cast<std::uint64_t>(10 + i)});
    send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, d.insert_text("t", 0, "x").value()));
  }
  ASSERT_EQ(journal.snapshots.size(), 1u);
  journal.commit_all();
  EXPECT_EQ(room.stats().compactions, 1u);
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(20, "y")));
  room.leave(1);
  ASSERT_EQ(journal.snapshots.size(), 2u);
  // The snapshot is the whole document.
  crdt::Doc check;
  ASSERT_TRUE(check.apply_update(journal.snapshots[1]).ok());
  EXPECT_EQ(check.text("t").size(), 4u);
}

TEST_F(RoomTest, LoadsSnapshotThenLog) {
  FakeJournal j;
  Room r("doc", j, RoomLimits{});
  crdt::Doc d(crdt::DocOptions{.client_id = 5});
  const Bytes first = d.insert_text("t", 0, "ab").value();
  const Bytes second = d.insert_text("t", 2, "cd").value();
  ASSERT_TRUE(r.load(first, {second}).ok());
  EXPECT_EQ(r.doc().text("t"), "abcd");
  EXPECT_EQ(r.stats().updates_since_snapshot, 1u);
  Room broken("doc", j, RoomLimits{});
  EXPECT_FALSE(broken.load(Bytes{0xff, 0xff}, {}).ok());
}

Bytes awareness(std::uint64_t client, std::uint64_t clock, std::string state) {
  return protocol::awareness_frame(Protocol::kHocuspocus, "doc",
                                   protocol::encode_awareness({{client, clock, std::move(state)}}));
}

std::vector<protocol::AwarenessEntry> awareness_of(const Frame& f) {
  return protocol::decode_awareness(f.awareness, 100).value();
}

TEST_F(RoomTest, AwarenessIsCoalescedStampedAndRemovedOnLeave) {
  auto a = join(1, Protocol::kHocuspocus, false, "Alice");
  auto b = join(2, Protocol::kHocuspocus, false, "Bob");
  send(1, Protocol::kHocuspocus, awareness(100, 1, R"({"user":{"name":"Admin","color":"#f00"}})"));
  send(1, Protocol::kHocuspocus, awareness(100, 2, R"({"user":{"name":"Admin","color":"#0f0"}})"));
  EXPECT_TRUE(b->take().empty()) << "coalesced until the flush";
  ASSERT_TRUE(room.has_pending_awareness());
  room.flush_awareness();
  auto got = b->take();
  ASSERT_EQ(got.size(), 1u);
  auto entries = awareness_of(got[0]);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].clock, 2u);
  EXPECT_EQ(entries[0].state, R"({"user":{"name":"Alice","color":"#0f0"}})");
  EXPECT_EQ(a->take().size(), 1u) << "the sender hears its own state back (y-websocket liveness)";

  // Another connection may not speak for client 100, and clock-0 entries are ignored.
  const Verdict forged = send(2, Protocol::kHocuspocus, awareness(100, 9, R"({"user":{"name":"Eve"}})"));
  EXPECT_EQ(forged.rejected, "foreign_awareness");
  send(2, Protocol::kHocuspocus, awareness(200, 0, "{}"));
  room.flush_awareness();
  EXPECT_TRUE(b->take().empty());

  // A newcomer gets the live states at once.
  auto c = join(3, Protocol::kYWebsocket);
  auto joined = c->take();
  ASSERT_EQ(joined.size(), 2u);  // Step1, awareness
  EXPECT_EQ(awareness_of(joined[1]).size(), 1u);

  room.leave(1);
  room.flush_awareness();
  got = b->take();
  ASSERT_EQ(got.size(), 1u);
  entries = awareness_of(got[0]);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].client, 100u);
  EXPECT_EQ(entries[0].clock, 2u) << "the last clock with null: peers accept it";
  EXPECT_EQ(entries[0].state, "null");
}

TEST_F(RoomTest, AwarenessExpiresAfterTheTimeout) {
  join(1, Protocol::kHocuspocus);
  auto b = join(2, Protocol::kHocuspocus);
  send(1, Protocol::kHocuspocus, awareness(100, 1, "{}"));
  room.flush_awareness();
  b->take();
  room.tick(now + 29999);
  EXPECT_FALSE(room.has_pending_awareness());
  room.tick(now + 30000);
  room.flush_awareness();
  auto got = b->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(awareness_of(got[0])[0].state, "null");
}

TEST_F(RoomTest, TheAwarenessSchedulerIsCalledWheneverChangesArePending) {
  int scheduled = 0;
  room.set_awareness_scheduler([&] {
    ++scheduled;
    EXPECT_TRUE(room.has_pending_awareness());
  });
  join(1, Protocol::kHocuspocus);
  join(2, Protocol::kHocuspocus);
  send(1, Protocol::kHocuspocus, awareness(100, 1, "{}"));
  EXPECT_EQ(scheduled, 1) << "a member's message";
  room.flush_awareness();
  send(1, Protocol::kHocuspocus, awareness(100, 1, "{}"));
  EXPECT_EQ(scheduled, 1) << "an old clock changes nothing";
  send(2, Protocol::kHocuspocus, awareness(200, 1, "{}"));
  room.flush_awareness();
  EXPECT_EQ(scheduled, 2);
  room.tick(now + 1000);
  EXPECT_EQ(scheduled, 2) << "nothing expired";
  room.leave(2);
  EXPECT_EQ(scheduled, 3) << "a leave withdraws the member's state";
  room.flush_awareness();
  room.tick(now + 30000);
  EXPECT_EQ(scheduled, 4) << "expiry";
}

TEST_F(RoomTest, AFailedCommitStopsAcknowledgementsUntilASnapshotCoversIt) {
  auto a = join(1, Protocol::kHocuspocus);
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(7, "x")));
  journal.commit_all(Error{"storage", 1, "disk full"});
  EXPECT_EQ(a->close_code, kCloseInternal);
  EXPECT_TRUE(a->take().empty());
  auto b = join(2, Protocol::kHocuspocus);
  send(2, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(8, "y")));
  journal.commit_all();  // the append and the compaction it triggered
  room.compact();
  journal.commit_all();
  send(2, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(9, "z")));
  journal.commit_all();
  auto got = b->take();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().type, MessageType::kSyncStatus);
}

TEST_F(RoomTest, RemoteUpdatesAreBroadcastToEveryoneAndNeverJournaled) {
  auto a = join(1, Protocol::kHocuspocus);
  auto b = join(2, Protocol::kYWebsocket);
  b->take();
  ASSERT_TRUE(room.apply_remote_update(text_update(7, "from node 2")).ok());
  EXPECT_EQ(a->take().size(), 1u);
  EXPECT_EQ(b->take().size(), 1u);
  EXPECT_TRUE(journal.appended.empty()) << "the other node stored it";
  // Again (at-least-once delivery): nothing new, nothing sent.
  ASSERT_TRUE(room.apply_remote_update(text_update(7, "from node 2")).ok());
  EXPECT_TRUE(a->take().empty());
  EXPECT_FALSE(room.apply_remote_update(Bytes{0xff, 0xff}).ok());
  // A joiner's full state has it.
  auto c = join(3, Protocol::kHocuspocus);
  send(3, Protocol::kHocuspocus, hp(SyncType::kStep1, Bytes{0}));
  auto got = c->take();
  ASSERT_EQ(got.size(), 2u);
  crdt::Doc mirror;
  ASSERT_TRUE(mirror.apply_update(got[1].sync.payload).ok());
  EXPECT_EQ(mirror.text("t"), "from node 2");
}

TEST_F(RoomTest, AwarenessIsRelayedBetweenNodesWithoutEchoes) {
  std::vector<Bytes> relayed;
  room.set_awareness_relay([&](const Bytes& u) { relayed.push_back(u); });
  auto a = join(1, Protocol::kHocuspocus, false, "Alice");
  // A state from another node reaches the members at once and is not relayed back.
  ASSERT_TRUE(
      room.apply_remote_awareness(protocol::encode_awareness({{500, 1, R"({"user":{"name":"Bob"}})"}}), now).ok());
  auto got = a->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(awareness_of(got[0])[0].client, 500u);
  room.flush_awareness();
  EXPECT_TRUE(relayed.empty());
  // A local state is relayed once, stamped.
  send(1, Protocol::kHocuspocus, awareness(100, 1, R"({"user":{"name":"Admin"}})"));
  room.flush_awareness();
  ASSERT_EQ(relayed.size(), 1u);
  auto entries = protocol::decode_awareness(relayed[0], 10);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].client, 100u);
  EXPECT_EQ((*entries)[0].state, R"({"user":{"name":"Alice"}})");
  // A joiner sees both.
  auto c = join(3, Protocol::kYWebsocket);
  auto joined = c->take();
  ASSERT_EQ(joined.size(), 2u);
  EXPECT_EQ(awareness_of(joined[1]).size(), 2u);
  // Client 500 reconnects to this node: its connection takes the id over, and
  // its leaving is relayed as a removal.
  auto d = join(4, Protocol::kHocuspocus, false, "Bob");
  EXPECT_EQ(send(4, Protocol::kHocuspocus, awareness(500, 2, R"({"user":{"name":"Bob"}})")).rejected, "");
  room.flush_awareness();
  room.leave(4);
  room.flush_awareness();
  ASSERT_EQ(relayed.size(), 3u);
  entries = protocol::decode_awareness(relayed[2], 10);
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ((*entries)[0].client, 500u);
  EXPECT_EQ((*entries)[0].state, "null");
  // Relayed states expire like local ones, locally only.
  ASSERT_TRUE(room.apply_remote_awareness(protocol::encode_awareness({{600, 1, "{}"}}), now).ok());
  room.tick(now + 30000);
  room.flush_awareness();
  ASSERT_EQ(relayed.size(), 4u);  // Alice's own state timed out: that is relayed
  entries = protocol::decode_awareness(relayed[3], 10);
  ASSERT_TRUE(entries.ok());
  for (const auto& e : *entries) EXPECT_NE(e.client, 600u) << "another node's state is never expired on its behalf";
}

TEST_F(RoomTest, HeldAcksAreSentOnceTheTickSnapshotCoversThem) {
  // The store is down: the sender's append fails, another member's update
  // commits but its ack is held, because it may build on the lost one.
  auto a = join(1, Protocol::kHocuspocus);
  auto b = join(2, Protocol::kHocuspocus);
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(7, "lost")));
  journal.commit_all(Error{"storage", 1, "database down"});
  send(2, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(8, "after")));
  journal.commit_all();
  b->take();
  EXPECT_TRUE(b->take().empty()) << "no ack while a snapshot has not covered the failure";
  // The tick retries the snapshot; while it fails, still nothing.
  room.tick(now);
  ASSERT_EQ(journal.snapshots.size(), 1u);
  journal.commit_all(Error{"storage", 1, "database down"});
  EXPECT_TRUE(b->take().empty());
  // The store is back: the next tick's snapshot holds everything, the held ack goes out.
  room.tick(now + 3000);
  ASSERT_EQ(journal.snapshots.size(), 2u);
  crdt::Doc snap;
  ASSERT_TRUE(snap.apply_update(journal.snapshots[1]).ok());
  EXPECT_NE(snap.text("t").find("lost"), std::string::npos);
  journal.commit_all();
  auto got = b->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, MessageType::kSyncStatus);
  // And acks flow normally again.
  send(2, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(9, "more")));
  journal.commit_all();
  EXPECT_EQ(b->take().size(), 1u);
  room.tick(now + 6000);
  EXPECT_EQ(journal.snapshots.size(), 2u) << "no retry once healthy";
  (void)a;
}

TEST(RoomClusterTest, ADuplicateOfAnotherNodesUpdateIsStoredNotAssumedDurable) {
  // Node 1 relayed this update, then died before committing it; its client
  // resends it here. In a cluster the room must store it before acknowledging.
  FakeJournal journal;
  RoomLimits limits;
  limits.store_duplicates = true;
  Room room("doc", journal, limits);
  ASSERT_TRUE(room.load({}, {}).ok());
  auto m = std::make_shared<FakeMember>(Protocol::kHocuspocus);
  room.join(1, MemberInfo{Protocol::kHocuspocus, "doc", false, "user1", "", "s1"}, m);
  const Bytes update = text_update(7, "relayed, never committed");
  ASSERT_TRUE(room.apply_remote_update(update).ok());
  const Bytes frame = hp(SyncType::kUpdate, update);
  auto f = protocol::decode_frame(Protocol::kHocuspocus, frame);
  ASSERT_TRUE(f.ok());
  room.receive(1, *f, 0);
  ASSERT_EQ(journal.appended.size(), 1u) << "stored, not waved through as a duplicate";
  EXPECT_EQ(journal.appended[0], update);
  // An empty update is still only a barrier.
  crdt::Doc empty;
  const Bytes empty_frame = hp(SyncType::kUpdate, empty.encode_state_as_update().value());
  auto e = protocol::decode_frame(Protocol::kHocuspocus, empty_frame);
  ASSERT_TRUE(e.ok());
  room.receive(1, *e, 0);
  EXPECT_EQ(journal.appended.size(), 1u);
}

TEST_F(RoomTest, SessionRecordsFollowAMembersOwnStatesAndRestoreThem) {
  std::vector<std::pair<std::string, Bytes>> records;
  room.set_session_observer([&](const MemberInfo& info, const SessionState& session) {
    EXPECT_EQ(session.awareness_client, 100u);
    EXPECT_TRUE(session.state_vector.empty()) << "nothing acknowledged yet";
    records.emplace_back(info.session, session.awareness_state);
  });
  auto a = join(1, Protocol::kHocuspocus, false, "Alice");
  send(1, Protocol::kHocuspocus, awareness(100, 3, R"({"cursor":1})"));
  ASSERT_TRUE(room.apply_remote_awareness(protocol::encode_awareness({{500, 1, "{}"}}), now).ok());
  room.flush_awareness();
  ASSERT_EQ(records.size(), 1u) << "only this node's members' states";
  EXPECT_EQ(records[0].first, "session1");
  auto entries = protocol::decode_awareness(records[0].second, 1);
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ((*entries)[0].client, 100u);
  EXPECT_EQ((*entries)[0].clock, 3u);
  // The record restores the state for a member joining elsewhere, at once.
  FakeJournal other_journal;
  Room other("doc", other_journal, limits());
  ASSERT_TRUE(other.load({}, {}).ok());
  auto watcher = std::make_shared<FakeMember>(Protocol::kHocuspocus);
  other.join(7, MemberInfo{Protocol::kHocuspocus, "doc", false, "w", "", "sw"}, watcher);
  auto back = std::make_shared<FakeMember>(Protocol::kHocuspocus);
  other.join(8, MemberInfo{Protocol::kHocuspocus, "doc", false, "user1", "Alice", "session1"}, back);
  ASSERT_TRUE(other.restore_awareness(8, records[0].second, now).ok());
  auto got = watcher->take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(awareness_of(got[0])[0].client, 100u);
  // The member's own next state takes the id over.
  const Bytes moved = awareness(100, 4, R"({"cursor":2})");
  auto f = protocol::decode_frame(Protocol::kHocuspocus, moved);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(other.receive(8, *f, now).rejected, "");
  (void)a;
}

TEST_F(RoomTest, SessionRecordsCarryTheStateVectorOfTheLastAck) {
  std::vector<SessionState> records;
  room.set_session_observer([&](const MemberInfo&, const SessionState& session) { records.push_back(session); });
  auto a = join(1, Protocol::kHocuspocus);
  auto y = join(2, Protocol::kYWebsocket);
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(7, "acked")));
  room.tick(now);
  EXPECT_TRUE(records.empty()) << "not before the commit";
  journal.commit_all();
  EXPECT_TRUE(records.empty()) << "reported at the next flush, tick or leave, not per ack";
  room.tick(now);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].awareness_client, 0u);
  auto sv = crdt::decode_state_vector(records[0].state_vector);
  ASSERT_TRUE(sv.ok());
  EXPECT_EQ(sv->get(7), 5u);
  room.tick(now);
  EXPECT_EQ(records.size(), 1u) << "nothing new acknowledged";
  // Later awareness carries the same state vector along.
  send(1, Protocol::kHocuspocus, awareness(100, 1, R"({"cursor":3})"));
  room.flush_awareness();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].awareness_client, 100u);
  EXPECT_EQ(records[1].state_vector, records[0].state_vector);
  // A y-websocket member has no acks on the wire, but its commits count; its leave reports.
  send(2, Protocol::kYWebsocket,
       protocol::sync_frame(Protocol::kYWebsocket, "", SyncType::kUpdate, text_update(8, "more")));
  journal.commit_all();
  room.leave(2);
  ASSERT_EQ(records.size(), 3u);
  sv = crdt::decode_state_vector(records[2].state_vector);
  ASSERT_TRUE(sv.ok());
  EXPECT_EQ(sv->get(8), 4u);
  EXPECT_EQ(room.has_seen(records[2].state_vector).value(), true);
  Room other("doc", journal, limits());
  ASSERT_TRUE(other.load({}, {}).ok());
  EXPECT_EQ(other.has_seen(records[2].state_vector).value(), false);
  EXPECT_FALSE(other.has_seen(Bytes{5}).ok());
  (void)a;
  (void)y;
}

TEST_F(RoomTest, BroadcastsCoalesceUntilTheScheduledFlush) {
  int scheduled = 0;
  room.set_broadcast_scheduler([&] { ++scheduled; });
  auto a = join(1, Protocol::kHocuspocus);
  auto b = join(2, Protocol::kHocuspocus);
  auto obs = join(3, Protocol::kYWebsocket);
  obs->take();
  // One sender: collected, one flush scheduled, sent merged to everyone else.
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(7, "ab")));
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(8, "cd")));
  EXPECT_EQ(scheduled, 1);
  EXPECT_TRUE(obs->take().empty()) << "nothing before the flush";
  room.flush_broadcasts();
  auto got = obs->take();
  ASSERT_EQ(got.size(), 1u) << "one frame for both updates";
  crdt::Doc mirror;
  ASSERT_TRUE(mirror.apply_update(got[0].sync.payload).ok());
  EXPECT_EQ(mirror.text("t").size(), 4u);
  EXPECT_EQ(b->take().size(), 1u);
  EXPECT_TRUE(a->take().empty()) << "not back to its only sender";
  EXPECT_EQ(room.stats().broadcasts, 1u);
  EXPECT_EQ(room.stats().updates_broadcast, 2u);
  // Two senders: everyone gets the merged frame (their own structs change nothing for them).
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(9, "e")));
  send(2, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(10, "f")));
  EXPECT_EQ(scheduled, 2);
  room.flush_broadcasts();
  for (auto* m : {a.get(), b.get(), obs.get()}) {
    auto frames = m->take();
    ASSERT_EQ(frames.size(), 1u);
    ASSERT_TRUE(mirror.apply_update(frames[0].sync.payload).ok());
  }
  EXPECT_EQ(mirror.encode_state_as_update().value(), room.doc().encode_state_as_update().value());
  room.flush_broadcasts();
  EXPECT_TRUE(obs->take().empty()) << "a flush with nothing pending sends nothing";
  // A large update is not held: what was pending goes first, then it, both at once.
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(11, "g")));
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(12, std::string(kCoalesceBytes, 'x'))));
  got = obs->take();
  ASSERT_EQ(got.size(), 2u);
  ASSERT_TRUE(mirror.apply_update(got[0].sync.payload).ok());
  EXPECT_EQ(mirror.text("t").size(), 7u) << "the held update first";
}

TEST_F(RoomTest, JoinersOfOneVersionShareOneFullStateFrame) {
  auto w = join(1, Protocol::kHocuspocus);
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(7, "shared state")));
  journal.commit_all();
  auto a = join(2, Protocol::kHocuspocus);
  auto b = join(3, Protocol::kHocuspocus);
  send(2, Protocol::kHocuspocus, hp(SyncType::kStep1, Bytes{0}));
  send(3, Protocol::kHocuspocus, hp(SyncType::kStep1, Bytes{0}));
  ASSERT_TRUE(a->last_shared && b->last_shared);
  EXPECT_EQ(a->last_shared.get(), b->last_shared.get()) << "one buffer for every joiner";
  // A new version gets a new frame with the new content.
  send(1, Protocol::kHocuspocus, hp(SyncType::kUpdate, text_update(8, "more")));
  journal.commit_all();
  auto c = join(4, Protocol::kHocuspocus);
  send(4, Protocol::kHocuspocus, hp(SyncType::kStep1, Bytes{0}));
  EXPECT_NE(c->last_shared.get(), a->last_shared.get());
  auto got = c->take();
  crdt::Doc mirror;
  ASSERT_TRUE(mirror.apply_update(got.back().sync.payload).ok());
  EXPECT_EQ(mirror.text("t").size(), std::string("shared state").size() + std::string("more").size());
  (void)w;
}

}  // namespace
}  // namespace quire::room
