// PostgreSQL plumbing shared by PgStore and PgAccountStore (libpq): RAII over
// a connection and a result, parameterised statements only (values travel
// apart from the SQL text; bytea and results in binary), errors in the
// storage domain, and PgPool, a small pool that drops a broken connection
// and opens a new one on the next use, with backoff, so a database restart
// heals without restarting Quire. Every session runs with
// synchronous_commit=on: a COMMIT returns once its WAL is flushed, which is
// when Quire may acknowledge. Settings: docs/storage.md "PostgreSQL".
//
// Thread-safety: a PgConnection is used by one thread at a time (libpq's
// rule); a PgPool may be used from any thread and lends each connection to
// one caller at a time. Every call blocks on the network: storage threads
// only, never an I/O thread.
// Limitations: one round trip per statement (no pipelining); results are
// fetched whole, so queries must be bounded; text parameters cannot hold NUL
// bytes (PostgreSQL's text cannot) and are refused with kInvalid.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "storage/store.h"

struct pg_conn;
struct pg_result;

namespace quire::storage {

// Settings shared by PgStore and PgAccountStore (the app gives both the same).
struct PgOptions {
  // Connections a pool opens at most; further callers wait for a free one.
  std::size_t pool_size = 4;
  // How long opening a connection may take (libpq's connect_timeout, at least
  // 2 s). A connect_timeout in the URL wins.
  std::chrono::seconds connect_timeout{5};
  // Set on each session unless the URL (options=-c statement_timeout=...),
  // the role or the server already set one: a statement blocked longer (a
  // lock, a stalled disk) fails with kIo instead of hanging. 0: none.
  std::chrono::milliseconds statement_timeout{30'000};
  // The longest pause between attempts to reach a database that refused a
  // connection (it doubles from 50 ms); calls meanwhile fail at once (kIo).
  std::chrono::milliseconds max_backoff{2'000};
  // On a fresh database only (the first migration): the number of hash
  // partitions by workspace of `updates` and `snapshots`; 0: plain tables.
  int partitions = 0;
  // A read replica for read-only lists (the account store's user, document,
  // member and audit lists; the store's list_documents); empty: the primary.
  std::string replica_url{};
};

// Parameters of one statement, bound in order ($1, $2, ...). Values are copied.
class PgParams {
 public:
  PgParams& text(std::string_view v);
  PgParams& text_or_null(std::string_view v);  // empty → NULL
  PgParams& bytes(ByteView v);                 // bytea, sent in binary
  PgParams& integer(std::int64_t v);
  PgParams& boolean(bool v);
  PgParams& null();

 private:
  friend class PgConnection;
  struct Value {
    std::string data;
    bool is_null = false;
    bool is_bytea = false;
  };
  std::vector<Value> values_;
  bool has_nul_ = false;  // a text value with a NUL byte: refused at exec
};

// A statement's result (RAII over PGresult). Columns arrive in binary.
class PgResult {
 public:
  explicit PgResult(pg_result* result) : r_(result) {}
  PgResult(PgResult&& other) noexcept : r_(std::exchange(other.r_, nullptr)) {}
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  [[nodiscard]] int rows() const;
  [[nodiscard]] bool null_at(int row, int col) const;
  [[nodiscard]] std::string text_at(int row, int col) const;  // "" for NULL
  [[nodiscard]] Bytes bytes_at(int row, int col) const;       // empty for NULL
  // smallint, integer, bigint or boolean; 0 for NULL.
  [[nodiscard]] std::int64_t int_at(int row, int col) const;
  [[nodiscard]] std::optional<std::int64_t> optional_int_at(int row, int col) const;
  // Rows an INSERT, UPDATE or DELETE changed (or returned).
  [[nodiscard]] std::uint64_t affected() const;
  // The command tag ("COMMIT", "ROLLBACK", "INSERT 0 1", ...).
  [[nodiscard]] std::string_view command() const;

 private:
  pg_result* r_;
};

// What the server said about the last failed statement.
struct PgErrorInfo {
  std::string sqlstate;    // e.g. "23505"; empty when the connection failed
  std::string constraint;  // the violated constraint, if any
};

// One session (RAII over PGconn).
class PgConnection {
 public:
  // Opens a session to `url` (a postgresql:// URI or key=value string) with
  // `options`' defaults, which the URL's own settings override, then sets
  // synchronous_commit=on and the statement timeout; a read-only session also
  // refuses writes (default_transaction_read_only). kIo if unreachable.
  static Result<std::unique_ptr<PgConnection>> connect(const std::string& url, const PgOptions& options,
                                                       bool read_only = false);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement; `what` names it in errors. Errors: kExists (unique
  // violation), kNotFound (foreign key), kInvalid (bad data, NUL in text),
  // kIo (everything else: connection, timeout, lock, server).
  Result<PgResult> exec(std::string_view what, const char* sql, const PgParams& params = {});
  // Runs SQL text without parameters, possibly several statements (schema
  // migrations; never with values in it).
  Status exec_script(std::string_view what, const std::string& sql);
  // The SQLSTATE and constraint of the last failed statement.
  [[nodiscard]] const PgErrorInfo& last_error() const { return last_error_; }

  // COMMIT, checked: a transaction a failed statement aborted "commits" as a
  // rollback, which is an error here.
  Status commit();
  // ROLLBACK if a transaction is open; failures only mark the connection broken.
  void rollback();

  // False once the connection is known to be unusable (lost, or the server is
  // shutting down): the pool drops it.
  [[nodiscard]] bool usable() const;
  // Reads, without blocking, what the server sent while the connection sat
  // idle (a shutdown notice, end of stream); false if it is gone.
  bool check_alive();
  // Not inside a transaction.
  [[nodiscard]] bool idle() const;

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  Error fail(std::string_view what, pg_result* result);

  pg_conn* conn_;
  bool broken_ = false;
  PgErrorInfo last_error_;
};

// A few connections to one database, opened on demand.
class PgPool {
 public:
  PgPool(std::string url, PgOptions options, bool read_only = false);
  ~PgPool();  // every lease must have been returned
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // A connection lent to one caller; goes back to the pool (or, broken or
  // mid-transaction, is closed) when the lease ends.
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    PgConnection& operator*() const { return *conn_; }
    PgConnection* operator->() const { return conn_.get(); }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  // An idle connection that is still alive, or a new one (kIo if the database
  // is unreachable, or was moments ago and the backoff has not run out, or no
  // connection came free in connect_timeout + statement_timeout).
  Result<Lease> acquire();

  // body(PgConnection&) on a pooled connection, outside any transaction.
  // Returns what body returns (a Result<T> or a Status).
  template <class Body>
  auto run(Body&& body) -> std::invoke_result_t<Body&, PgConnection&> {
    using R = std::invoke_result_t<Body&, PgConnection&>;
    auto lease = acquire();
    if (!lease) return R(lease.error());
    return body(**lease);
  }

  // body(PgConnection&) in one transaction opened by `begin` ("BEGIN", or
  // with an isolation level); commits if body succeeds, else rolls back.
  template <class Body>
  auto transact(const char* begin, Body&& body) -> std::invoke_result_t<Body&, PgConnection&> {
    using R = std::invoke_result_t<Body&, PgConnection&>;
    auto lease = acquire();
    if (!lease) return R(lease.error());
    PgConnection& conn = **lease;
    if (auto began = conn.exec("begin", begin); !began) return R(began.error());
    R out = body(conn);
    if (!out.ok()) {
      conn.rollback();
      return out;
    }
    if (Status committed = conn.commit(); !committed) return R(committed.error());
    return out;
  }

 private:
  void give_back(std::unique_ptr<PgConnection> conn);

  const std::string url_;
  const PgOptions options_;
  const bool read_only_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  std::size_t open_ = 0;  // idle and lent
  // Backoff after failed connects: no new attempt before retry_at_.
  int failures_ = 0;
  std::chrono::steady_clock::time_point retry_at_{};
  std::string last_failure_;
};

}  // namespace quire::storage
