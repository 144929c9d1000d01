#include "protocol/messages.h"

#include <gtest/gtest.h>

namespace quire::protocol {
namespace {

Bytes hex(std::string_view h) {
  Bytes b;
  EXPECT_TRUE(from_hex(h, b)) << h;
  return b;
}

// Golden frames from ../shared/spec/vectors.json ("sync_messages",
// "awareness_update"): document "abc" in Y.Text "t", client 1.
constexpr std::string_view kStep1 = "000003010103";
constexpr std::string_view kStep2 = "00010d01010100040101740361626300";
constexpr std::string_view kUpdate = "00020d01010100040101740361626300";
constexpr std::string_view kAwarenessUpdate =
    "010101247b2275736572223a7b226e616d65223a2241222c22636f6c6f72223a2223663030227d7d";
constexpr std::string_view kAwarenessFrame =
    "0128010101247b2275736572223a7b226e616d65223a2241222c22636f6c6f72223a2223663030227d7d";

TEST(YWebsocket, DecodesTheGoldenSyncFrames) {
  const Bytes step1_bytes = hex(kStep1);  // frames are views into their input
  auto step1 = decode_frame(Protocol::kYWebsocket, step1_bytes);
  ASSERT_TRUE(step1.ok());
  EXPECT_EQ(step1->type, MessageType::kSync);
  EXPECT_EQ(step1->sync.type, SyncType::kStep1);
  EXPECT_EQ(Bytes(step1->sync.payload.begin(), step1->sync.payload.end()), hex("010103"));

  const Bytes update_bytes = hex(kUpdate);
  auto update = decode_frame(Protocol::kYWebsocket, update_bytes);
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->sync.type, SyncType::kUpdate);
  EXPECT_EQ(update->sync.payload.size(), 13u);
}

TEST(YWebsocket, EncodesTheGoldenFrames) {
  const Bytes update = hex("01010100040101740361626300");
  EXPECT_EQ(to_hex(sync_frame(Protocol::kYWebsocket, "", SyncType::kStep2, update)), kStep2);
  EXPECT_EQ(to_hex(sync_frame(Protocol::kYWebsocket, "", SyncType::kUpdate, update)), kUpdate);
  EXPECT_EQ(to_hex(awareness_frame(Protocol::kYWebsocket, "", hex(kAwarenessUpdate))), kAwarenessFrame);
  EXPECT_EQ(to_hex(query_awareness_frame(Protocol::kYWebsocket, "")), "03");
}

TEST(Awareness, DecodesAndEncodesTheGoldenUpdates) {
  const Bytes input = hex(kAwarenessUpdate);
  auto entries = decode_awareness(input, 10);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].client, 1u);
  EXPECT_EQ((*entries)[0].clock, 1u);
  EXPECT_EQ((*entries)[0].state, R"({"user":{"name":"A","color":"#f00"}})");
  EXPECT_EQ(to_hex(encode_awareness({{1, 1, R"({"user":{"name":"A","color":"#f00"}})"}})), kAwarenessUpdate);
  EXPECT_EQ(to_hex(encode_awareness({{1, 2, "null"}})), "010102046e756c6c");
}

TEST(Awareness, RefusesTooManyOrTruncatedEntries) {
  EXPECT_FALSE(decode_awareness(hex(kAwarenessUpdate), 0).ok());
  EXPECT_FALSE(decode_awareness(hex("0201010100"), 10).ok());        // second entry missing
  EXPECT_FALSE(decode_awareness(hex("ffffffff0f"), 1u << 30).ok());  // a count no input can hold
  EXPECT_FALSE(decode_awareness(hex("010101026e"), 10).ok());        // state shorter than its length
  EXPECT_FALSE(decode_awareness(hex("01010101ff"), 10).ok());        // state not UTF-8
  EXPECT_FALSE(decode_awareness(hex("0101010000"), 10).ok());        // trailing byte
}

TEST(Hocuspocus, FramesCarryTheDocumentName) {
  const Bytes update = hex("01010100040101740361626300");
  const Bytes frame = sync_frame(Protocol::kHocuspocus, "abc", SyncType::kUpdate, update);
  EXPECT_EQ(to_hex(frame), "03616263" + std::string(kUpdate));
  auto back = decode_frame(Protocol::kHocuspocus, frame);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->document, "abc");
  EXPECT_EQ(back->sync.type, SyncType::kUpdate);
  EXPECT_EQ(to_hex(sync_status_frame("abc", true)),
            "0361626308"
            "01");
  EXPECT_EQ(to_hex(sync_status_frame("abc", false)),
            "0361626308"
            "00");
  EXPECT_EQ(to_hex(ping_frame()), "09");
}

TEST(Hocuspocus, AuthMessages) {
  // name • 02 • 00 • varString(token) [• varString(providerVersion)]
  const Bytes plain_bytes =
      hex("0361626302"
          "00"
          "03746f6b");
  auto plain = decode_frame(Protocol::kHocuspocus, plain_bytes);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->type, MessageType::kAuth);
  EXPECT_EQ(plain->auth, AuthType::kToken);
  EXPECT_EQ(plain->text, "tok");
  const Bytes versioned_bytes =
      hex("0361626302"
          "00"
          "03746f6b"
          "05332e312e30");
  auto versioned = decode_frame(Protocol::kHocuspocus, versioned_bytes);
  ASSERT_TRUE(versioned.ok());
  EXPECT_EQ(versioned->text, "tok");
  // Authenticated: name • 02 • 02 • varString(scope)
  EXPECT_EQ(to_hex(authenticated_frame("abc", true)),
            "0361626302"
            "02"
            "08726561646f6e6c79");
  EXPECT_EQ(to_hex(permission_denied_frame(Protocol::kHocuspocus, "abc", "no")),
            "0361626302"
            "01"
            "026e6f");
  EXPECT_EQ(to_hex(permission_denied_frame(Protocol::kYWebsocket, "", "no")),
            "02"
            "00"
            "026e6f");
  // Servers' own auth messages are refused from clients.
  EXPECT_FALSE(decode_frame(Protocol::kHocuspocus, hex("0361626302"
                                                       "02"
                                                       "00"))
                   .ok());
}

TEST(Hocuspocus, ServerFramesAsAClientReadsThem) {
  // What tools/loadgen sends and reads: the client's Auth and Pong, the server's answers.
  const Bytes auth = auth_token_frame("abc", "tok");
  EXPECT_EQ(to_hex(auth),
            "0361626302"
            "00"
            "03746f6b");
  auto token = decode_frame(Protocol::kHocuspocus, auth);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->text, "tok");
  EXPECT_FALSE(decode_server_frame(Protocol::kHocuspocus, auth).ok());  // servers send no tokens
  EXPECT_EQ(to_hex(pong_frame()), "0a");

  const Bytes authenticated = authenticated_frame("abc", false);
  auto ok = decode_server_frame(Protocol::kHocuspocus, authenticated);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->auth, AuthType::kAuthenticated);
  EXPECT_EQ(ok->text, "read-write");
  const Bytes denied = permission_denied_frame(Protocol::kHocuspocus, "abc", "no");
  auto no = decode_server_frame(Protocol::kHocuspocus, denied);
  ASSERT_TRUE(no.ok());
  EXPECT_EQ(no->auth, AuthType::kPermissionDenied);
  EXPECT_EQ(no->text, "no");

  for (const bool applied : {true, false}) {
    const Bytes status = sync_status_frame("abc", applied);
    auto back = decode_server_frame(Protocol::kHocuspocus, status);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->type, MessageType::kSyncStatus);
    EXPECT_EQ(back->document, "abc");
    EXPECT_EQ(back->applied, applied);
    EXPECT_FALSE(decode_frame(Protocol::kHocuspocus, status).ok());  // clients send no acks
  }
  auto ping = decode_server_frame(Protocol::kHocuspocus, ping_frame());
  ASSERT_TRUE(ping.ok());
  EXPECT_EQ(ping->type, MessageType::kPing);
  EXPECT_FALSE(decode_server_frame(Protocol::kHocuspocus, pong_frame()).ok());

  const Bytes update = hex("01010100040101740361626300");
  const Bytes sync = sync_frame(Protocol::kYWebsocket, "", SyncType::kUpdate, update);
  auto y = decode_server_frame(Protocol::kYWebsocket, sync);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(Bytes(y->sync.payload.begin(), y->sync.payload.end()), update);
}

TEST(Hocuspocus, PongHasNoDocumentName) {
  auto pong = decode_frame(Protocol::kHocuspocus, hex("0a"));
  ASSERT_TRUE(pong.ok());
  EXPECT_EQ(pong->type, MessageType::kPong);
}

TEST(Hocuspocus, CloseMayOmitItsReason) {
  const Bytes bare = hex("0361626307");  // what @hocuspocus/provider 4.8 sends
  auto close = decode_frame(Protocol::kHocuspocus, bare);
  ASSERT_TRUE(close.ok()) << close.error().message;
  EXPECT_EQ(close->type, MessageType::kClose);
  const Bytes with_reason =
      hex("036162630702"
          "6f6b");
  close = decode_frame(Protocol::kHocuspocus, with_reason);
  ASSERT_TRUE(close.ok());
  EXPECT_EQ(close->text, "ok");
}

TEST(Hocuspocus, RoutingKeysNameTheirDocument) {
  EXPECT_EQ(document_of(std::string_view("doc\0session", 11)), "doc");
  EXPECT_EQ(document_of("doc"), "doc");
}

TEST(Frames, BadBytesAreErrorsWithTheirReason) {
  struct Case {
    Protocol protocol;
    std::string_view hex;
    ErrorCode code;
  } const cases[] = {
      {Protocol::kYWebsocket, "", kTruncated},
      {Protocol::kYWebsocket, "80", kTruncated},          // varint cut short
      {Protocol::kYWebsocket, "07", kUnknownType},        // no such outer type
      {Protocol::kYWebsocket, "0003", kUnknownType},      // no such sync type
      {Protocol::kYWebsocket, "00020d0101", kTruncated},  // update shorter than its length
      {Protocol::kYWebsocket, "000000ff", kTrailingBytes},
      {Protocol::kYWebsocket, "0300", kTrailingBytes},
      {Protocol::kHocuspocus, "05616263", kTruncated},         // name shorter than its length
      {Protocol::kHocuspocus, "01ff00", kBadString},           // name not UTF-8
      {Protocol::kHocuspocus, "036162630801", kNotAllowed},    // SyncStatus is server → client
      {Protocol::kHocuspocus, "03616263060161", kNotAllowed},  // BroadcastStateless
      {Protocol::kHocuspocus, "036162630b", kUnknownType},
  };
  for (const Case& c : cases) {
    auto f = decode_frame(c.protocol, hex(c.hex));
    ASSERT_FALSE(f.ok()) << c.hex;
    EXPECT_EQ(f.error().code, c.code) << c.hex << ": " << f.error().message;
  }
}

}  // namespace
}  // namespace quire::protocol
