// Ed25519 key pairs, the verifier's key set, and the on-disk key store.
#include "auth/keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "auth/crypto.h"
#include "auth/error.h"
#include "auth/tokens.h"
#include "base/log.h"

namespace quire::auth {

static_assert(kPublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kSecretKeyBytes == crypto_sign_SECRETKEYBYTES);

namespace {

constexpr std::string_view kMagic = "QUIREK01";
constexpr std::size_t kFileBytes = kMagic.size() + 8 + kSecretKeyBytes;
constexpr std::string_view kKeySuffix = ".key";
constexpr std::string_view kTempSuffix = ".key.tmp";
constexpr std::size_t kKidRandomBytes = 16;
// The overlap must outlive every token the retired key signed: 15 min + 60 s leeway.
constexpr std::chrono::seconds kMinOverlap{16 * 60};

std::string errno_text() {
  return std::strerror(errno);
}

Error io_error(const std::filesystem::path& path, std::string_view what) {
  return auth_error(kKeyStoreIo, "key store: " + path.string() + ": " + std::string(what));
}

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// A key directory or file must belong to us and be closed to group and others:
// a readable secret is a leaked secret, a writable one can be swapped for an
// attacker's key.
Status check_private(const std::filesystem::path& path, const struct stat& st, std::string_view fix) {
  if (st.st_uid != geteuid()) return io_error(path, "not owned by the user running quire");
  if ((st.st_mode & 077) != 0) {
    return io_error(path, "mode " + mode_text(st.st_mode) + " lets group or others access it; " + std::string(fix));
  }
  return {};
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

Status write_all(int fd, ByteView bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return auth_error(kKeyStoreIo, errno_text());
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Status fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error(dir, "cannot open to fsync: " + errno_text());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error(dir, "fsync: " + errno_text());
  return {};
}

// Writes KID.key.tmp (0600, O_EXCL), fsyncs it, renames it into place and
// fsyncs the directory, so a crash leaves either no key or a whole one.
Status write_key_file(const std::filesystem::path& dir, const SigningKey& key) {
  std::array<std::uint8_t, kFileBytes> bytes{};
  std::copy(kMagic.begin(), kMagic.end(), bytes.begin());
  const auto created = static_cast<std::uint64_t>(key.created_at().time_since_epoch().count());
  for (int i = 0; i < 8; ++i) bytes[kMagic.size() + i] = static_cast<std::uint8_t>(created >> (56 - 8 * i));
  std::copy(key.secret().begin(), key.secret().end(), bytes.begin() + kMagic.size() + 8);

  const std::filesystem::path temp = dir / (key.kid() + std::string(kTempSuffix));
  const std::filesystem::path final_path = dir / (key.kid() + std::string(kKeySuffix));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    sodium_memzero(bytes.data(), bytes.size());
    return io_error(temp, "cannot create: " + errno_text());
  }
  Status status = write_all(fd, bytes);
  sodium_memzero(bytes.data(), bytes.size());
  if (status && ::fsync(fd) != 0) status = auth_error(kKeyStoreIo, "fsync: " + errno_text());
  if (::close(fd) != 0 && status) status = auth_error(kKeyStoreIo, "close: " + errno_text());
  if (status && ::rename(temp.c_str(), final_path.c_str()) != 0) {
    status = auth_error(kKeyStoreIo, "rename: " + errno_text());
  }
  if (!status) {
    ::unlink(temp.c_str());
    return io_error(temp, status.error().message);
  }
  return fsync_directory(dir);
}

Result<SigningKey> read_key_file(const std::filesystem::path& path, std::string kid) {
  // O_NOFOLLOW: a symlink in the key directory could point at any file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return io_error(path, "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return io_error(path, "cannot stat: " + errno_text());
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error(path, "not a regular file");
  }
  if (Status s = check_private(path, st, "chmod 600 it (and check whether the key leaked)"); !s) {
    ::close(fd);
    return s.error();
  }
  if (static_cast<std::size_t>(st.st_size) != kFileBytes) {
    ::close(fd);
    return auth_error(kBadKey, "key store: " + path.string() + ": " + std::to_string(st.st_size) +
                                   " bytes, a key file has exactly " + std::to_string(kFileBytes));
  }
  std::array<std::uint8_t, kFileBytes> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  auto wipe = [&bytes] { sodium_memzero(bytes.data(), bytes.size()); };
  if (got != bytes.size()) {
    wipe();
    return io_error(path, "short read");
  }
  if (!std::equal(kMagic.begin(), kMagic.end(), bytes.begin())) {
    wipe();
    return auth_error(kBadKey, "key store: " + path.string() + ": not a Quire key file (bad magic)");
  }
  std::uint64_t created = 0;
  for (std::size_t i = 0; i < 8; ++i) created = (created << 8) | bytes[kMagic.size() + i];
  const UnixSeconds created_at{std::chrono::seconds(static_cast<std::int64_t>(created))};
  auto key = SigningKey::from_secret(std::move(kid), ByteView(bytes).subspan(kMagic.size() + 8), created_at);
  wipe();
  if (!key) return auth_error(kBadKey, "key store: " + path.string() + ": " + key.error().message);
  return key;
}

// Creates `dir` with mode 0700 if missing, then insists it is a private directory.
Status prepare_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return io_error(dir, "cannot create: " + errno_text());
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return io_error(dir, "cannot stat: " + errno_text());
  if (!S_ISDIR(st.st_mode)) return io_error(dir, "not a directory (symlinks are refused)");
  return check_private(dir, st, "chmod 700 it");
}

}  // namespace

bool is_valid_kid(std::string_view kid) {
  if (kid.empty() || kid.size() > kMaxKidBytes) return false;
  return std::all_of(kid.begin(), kid.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// --- SigningKey ---

SigningKey::SigningKey(std::string kid, UnixSeconds created_at) : kid_(std::move(kid)), created_at_(created_at) {}

SigningKey SigningKey::generate(UnixSeconds created_at) {
  require_crypto();
  SigningKey key(random_id(kKidRandomBytes), created_at);
  PublicKey public_key{};
  crypto_sign_keypair(public_key.data(), key.secret_.data());
  return key;
}

Result<SigningKey> SigningKey::from_secret(std::string kid, ByteView secret, UnixSeconds created_at) {
  require_crypto();
  if (!is_valid_kid(kid)) return auth_error(kBadKey, "key id is not [A-Za-z0-9_-]{1,64}");
  if (secret.size() != kSecretKeyBytes) {
    return auth_error(kBadKey, "secret key has " + std::to_string(secret.size()) + " bytes, Ed25519 needs " +
                                   std::to_string(kSecretKeyBytes));
  }
  const ByteView seed = secret.first(crypto_sign_SEEDBYTES);
  const ByteView stored_public = secret.subspan(crypto_sign_SEEDBYTES);
  if (sodium_is_zero(seed.data(), seed.size()) || sodium_is_zero(stored_public.data(), stored_public.size())) {
    return auth_error(kBadKey, "key material is all zero");
  }
  // libsodium signs with the public half stored in the secret key; if it does
  // not belong to the seed, signatures would not verify (or worse, leak).
  PublicKey derived{};
  std::array<std::uint8_t, kSecretKeyBytes> scratch{};
  crypto_sign_seed_keypair(derived.data(), scratch.data(), seed.data());
  sodium_memzero(scratch.data(), scratch.size());
  if (sodium_memcmp(derived.data(), stored_public.data(), kPublicKeyBytes) != 0) {
    return auth_error(kBadKey, "public half of the secret key does not match its seed");
  }
  SigningKey key(std::move(kid), created_at);
  std::copy(secret.begin(), secret.end(), key.secret_.begin());
  return key;
}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : kid_(std::move(other.kid_)), created_at_(other.created_at_), secret_(other.secret_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    kid_ = std::move(other.kid_);
    created_at_ = other.created_at_;
    secret_ = other.secret_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
  }
  return *this;
}

SigningKey::~SigningKey() {
  sodium_memzero(secret_.data(), secret_.size());
}

PublicKey SigningKey::public_key() const {
  PublicKey key{};
  std::copy(secret_.begin() + crypto_sign_SEEDBYTES, secret_.end(), key.begin());
  return key;
}

// --- KeySet ---

Status KeySet::add(std::string kid, const PublicKey& key) {
  if (!is_valid_kid(kid)) return auth_error(kBadKey, "key id is not [A-Za-z0-9_-]{1,64}");
  if (sodium_is_zero(key.data(), key.size())) return auth_error(kBadKey, "public key is all zero");
  if (!keys_.emplace(std::move(kid), key).second) return auth_error(kBadKey, "duplicate key id");
  return {};
}

const PublicKey* KeySet::find(std::string_view kid) const {
  if (!is_valid_kid(kid)) return nullptr;
  const auto it = keys_.find(kid);
  return it == keys_.end() ? nullptr : &it->second;
}

// --- KeyStore ---

KeyStore::KeyStore(std::filesystem::path dir, KeyStoreOptions options) : dir_(std::move(dir)), options_(options) {}

Result<std::unique_ptr<KeyStore>> KeyStore::open(const std::filesystem::path& dir, const KeyStoreOptions& options,
                                                 UnixSeconds now) {
  require_crypto();
  if (options.overlap < kMinOverlap) {
    return auth_error(kBadOptions, "key overlap must be at least 16 minutes (15 min tokens + 60 s leeway)");
  }
  if (Status s = prepare_directory(dir); !s) return s.error();
  std::unique_ptr<KeyStore> store(new KeyStore(dir, options));  // NOLINT: private constructor

  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (ends_with(name, kTempSuffix)) {
      // Left by a crash between create and rename: never a complete key.
      std::filesystem::remove(it->path(), ec);
      ec.clear();
      continue;
    }
    const std::string_view kid = std::string_view(name).substr(0, name.size() - kKeySuffix.size());
    if (!ends_with(name, kKeySuffix) || !is_valid_kid(kid)) {
      log::warn("auth_key_dir_unknown_file", {{"file", name}});
      continue;
    }
    auto key = read_key_file(it->path(), std::string(kid));
    if (!key) return key.error();
    store->keys_.push_back(std::make_shared<const SigningKey>(std::move(*key)));
  }
  if (ec) return io_error(dir, "cannot list: " + ec.message());

  std::sort(store->keys_.begin(), store->keys_.end(), [](const auto& a, const auto& b) {
    return a->created_at() != b->created_at() ? a->created_at() < b->created_at() : a->kid() < b->kid();
  });
  if (store->keys_.empty()) {
    if (Status s = store->rotate(now); !s) return s.error();
    return store;
  }
  std::lock_guard lock(store->mutex_);
  if (Status s = store->drop_expired(now); !s) return s.error();
  store->publish();
  return store;
}

std::shared_ptr<const KeySnapshot> KeyStore::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

Status KeyStore::rotate(UnixSeconds now) {
  std::lock_guard lock(mutex_);
  UnixSeconds created = now;
  if (!keys_.empty() && created <= keys_.back()->created_at())
    created = keys_.back()->created_at() + std::chrono::seconds(1);
  auto key = std::make_shared<const SigningKey>(SigningKey::generate(created));
  if (Status s = write_key_file(dir_, *key); !s) return s;
  log::info("auth_key_created", {{"kid", key->kid()}, {"created", std::int64_t{created.time_since_epoch().count()}}});
  keys_.push_back(std::move(key));
  Status status = drop_expired(now);
  publish();
  return status;
}

Status KeyStore::prune(UnixSeconds now) {
  std::lock_guard lock(mutex_);
  Status status = drop_expired(now);
  publish();
  return status;
}

Status KeyStore::drop_expired(UnixSeconds now) {
  // Key i stopped signing when key i + 1 was created; keys are oldest first,
  // so the expired ones are a prefix. The newest key never expires here.
  std::size_t expired = 0;
  while (expired + 1 < keys_.size() && now >= keys_[expired + 1]->created_at() + options_.overlap) ++expired;
  Status status;
  for (std::size_t i = 0; i < expired; ++i) {
    const std::filesystem::path path = dir_ / (keys_[i]->kid() + std::string(kKeySuffix));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && status)
      status = io_error(path, "cannot delete: " + errno_text());
    log::info("auth_key_dropped", {{"kid", keys_[i]->kid()}});
  }
  keys_.erase(keys_.begin(), keys_.begin() + static_cast<std::ptrdiff_t>(expired));
  return status;
}

void KeyStore::publish() {
  auto next = std::make_shared<KeySnapshot>();
  next->signing = keys_.back();
  for (const auto& key : keys_) {
    // Keys on disk have distinct file names, hence distinct kids: add cannot fail.
    const Status added = next->verification.add(key->kid(), key->public_key());
    assert(added.ok());
    (void)added;
  }
  snapshot_ = std::move(next);
}

}  // namespace quire::auth
