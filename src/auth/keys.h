// Ed25519 keys for access tokens: one SigningKey, the KeySet a verifier looks
// keys up in, and the KeyStore that keeps them in DATA_DIR/keys/ and rotates
// them.
//
// Each key is bound to exactly one algorithm (EdDSA): nothing in a token can
// make a key be used another way (SECURITY row 1). Key ids are random
// base64url text; a kid from a token is only ever a map lookup (row 3).
//
// Thread-safety: SigningKey and KeySet are immutable after construction and
// safe to share. KeyStore's methods may be called from any thread; readers take
// a snapshot() and use it without locks while rotate() publishes a new one.
// Limitations: one process per key directory (no cross-process lock); in a
// cluster, every node must be given the same keys, which is not automated yet.
// Retired keys keep their secret half on disk until their overlap ends.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace quire::auth {

using UnixSeconds = std::chrono::sys_seconds;

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSecretKeyBytes = 64;  // libsodium's seed || public key
using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;

// Longest key id accepted anywhere, and its alphabet.
inline constexpr std::size_t kMaxKidBytes = 64;
// True if `kid` matches [A-Za-z0-9_-]{1,64}. Checked before any lookup, so a
// path, SQL text or 10 kB string from a token header stops here.
bool is_valid_kid(std::string_view kid);

// One Ed25519 key pair. The secret is wiped when the object dies; it is not
// copyable so the secret is not duplicated by accident.
class SigningKey {
 public:
  // A new key pair from libsodium's CSPRNG with a random 128-bit kid.
  static SigningKey generate(UnixSeconds created_at);
  // A key from stored bytes. Refuses (kBadKey) an invalid kid, a secret of the
  // wrong size, all-zero key material, or a secret whose public half is not
  // the one its seed derives — a truncated, zeroed or spliced key file.
  static Result<SigningKey> from_secret(std::string kid, ByteView secret, UnixSeconds created_at);

  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  [[nodiscard]] const std::string& kid() const { return kid_; }
  [[nodiscard]] UnixSeconds created_at() const { return created_at_; }
  [[nodiscard]] PublicKey public_key() const;
  // The 64-byte libsodium secret key, for crypto_sign_detached only.
  [[nodiscard]] std::span<const std::uint8_t, kSecretKeyBytes> secret() const { return secret_; }

 private:
  SigningKey(std::string kid, UnixSeconds created_at);

  std::string kid_;
  UnixSeconds created_at_;
  std::array<std::uint8_t, kSecretKeyBytes> secret_{};
};

// The public keys a verifier trusts, by kid. Only keys put here by the server
// are ever used: a token cannot add one (jwk, jku, x5u, x5c are ignored).
class KeySet {
 public:
  // kBadKey on an invalid kid, a kid already present, or an all-zero key.
  Status add(std::string kid, const PublicKey& key);
  // The key for `kid`, or nullptr (also for any kid is_valid_kid refuses).
  [[nodiscard]] const PublicKey* find(std::string_view kid) const;
  [[nodiscard]] std::size_t size() const { return keys_.size(); }

 private:
  std::map<std::string, PublicKey, std::less<>> keys_;
};

struct KeyStoreOptions {
  // How long a key still verifies after a newer key took over signing. Must
  // cover the longest access token plus the leeway (16 min), or a rotation
  // would log people out; the default leaves a wide margin.
  std::chrono::seconds overlap = std::chrono::hours(24);
};

// What a signer and a verifier need at one moment: the active key, and every
// key still inside its overlap (the active one included).
struct KeySnapshot {
  std::shared_ptr<const SigningKey> signing;
  KeySet verification;
};

// Keys as files `KID.key` in one directory (mode 0700), each file mode 0600:
// 8 bytes magic "QUIREK01", 8 bytes creation time (big-endian Unix seconds),
// 64 bytes libsodium Ed25519 secret key. The newest key signs.
class KeyStore {
 public:
  // Opens `dir`, creating it (0700) and a first key if there is none. Any unsafe
  // or damaged state is a start-up error with the file named: a directory or
  // key file readable or writable by group or others, not owned by this user,
  // or a symlink; a key file of the wrong size or magic; key material refused
  // by SigningKey::from_secret. Keys whose overlap ended are deleted.
  static Result<std::unique_ptr<KeyStore>> open(const std::filesystem::path& dir, const KeyStoreOptions& options,
                                                UnixSeconds now);

  // The current keys; cheap (one lock, one shared_ptr copy).
  [[nodiscard]] std::shared_ptr<const KeySnapshot> snapshot() const;

  // Writes a new key (durably: fsync of file and directory) and makes it the
  // active one. Tokens signed by the previous key stay valid for the overlap.
  // If `now` is not after the newest key's creation, the new key is dated one
  // second after it so "newest" stays unambiguous.
  Status rotate(UnixSeconds now);

  // Deletes keys whose overlap ended by `now`. The active key is never dropped.
  Status prune(UnixSeconds now);

  [[nodiscard]] const std::filesystem::path& directory() const { return dir_; }

 private:
  KeyStore(std::filesystem::path dir, KeyStoreOptions options);
  Status drop_expired(UnixSeconds now);  // with mutex_ held
  void publish();                        // with mutex_ held

  std::filesystem::path dir_;
  KeyStoreOptions options_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const SigningKey>> keys_;  // oldest first
  std::shared_ptr<const KeySnapshot> snapshot_;
};

}  // namespace quire::auth
