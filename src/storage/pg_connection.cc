// PgConnection, PgResult and PgPool (pg_connection.h).
#include "storage/pg_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cstring>

namespace quire::storage {
namespace {

constexpr unsigned kByteaOid = 17;  // pg_type.h, which only the server package installs

// One line for logs: libpq's messages end in a newline and may add DETAIL lines.
std::string first_line(const char* message) {
  std::string out = message ? message : "unknown error";
  out.erase(std::min(out.find('\n'), out.size()));
  return out;
}

// The connection is gone, or the server is going away (SQLSTATE class 08,
// admin/crash shutdown, cannot connect now).
bool is_connection_loss(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

ErrorCode code_for(std::string_view sqlstate) {
  if (sqlstate == "23505") return kExists;          // unique_violation
  if (sqlstate == "23503") return kNotFound;        // foreign_key_violation
  if (sqlstate.starts_with("22")) return kInvalid;  // data exception (bad UTF-8, out of range, ...)
  return kIo;
}

std::uint64_t read_be(const char* p, int length) {
  std::uint64_t v = 0;
  for (int i = 0; i < length; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

// ---- PgParams ----

PgParams& PgParams::text(std::string_view v) {
  if (v.find('\0') != std::string_view::npos) has_nul_ = true;
  values_.push_back({std::string(v), false, false});
  return *this;
}

PgParams& PgParams::text_or_null(std::string_view v) {
  return v.empty() ? null() : text(v);
}

PgParams& PgParams::bytes(ByteView v) {
  values_.push_back({std::string(reinterpret_cast<const char*>(v.data()), v.size()), false, true});
  return *this;
}

PgParams& PgParams::integer(std::int64_t v) {
  values_.push_back({std::to_string(v), false, false});
  return *this;
}

PgParams& PgParams::boolean(bool v) {
  values_.push_back({v ? "true" : "false", false, false});
  return *this;
}

PgParams& PgParams::null() {
  values_.push_back({{}, true, false});
  return *this;
}

// ---- PgResult ----

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(r_);
    r_ = std::exchange(other.r_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() {
  PQclear(r_);
}

int PgResult::rows() const {
  return PQntuples(r_);
}

bool PgResult::null_at(int row, int col) const {
  return PQgetisnull(r_, row, col) != 0;
}

std::string PgResult::text_at(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

Bytes PgResult::bytes_at(int row, int col) const {
  const auto* p = reinterpret_cast<const std::uint8_t*>(PQgetvalue(r_, row, col));
  return Bytes(p, p + PQgetlength(r_, row, col));
}

std::int64_t PgResult::int_at(int row, int col) const {
  const int length = PQgetlength(r_, row, col);
  const char* p = PQgetvalue(r_, row, col);
  // Binary integers are big-endian two's complement of 2, 4 or 8 bytes; a boolean is one byte.
  switch (length) {
    case 1:
      return static_cast<unsigned char>(p[0]) != 0;
    case 2:
      return static_cast<std::int16_t>(read_be(p, 2));
    case 4:
      return static_cast<std::int32_t>(read_be(p, 4));
    case 8:
      return static_cast<std::int64_t>(read_be(p, 8));
    default:
      return 0;
  }
}

std::optional<std::int64_t> PgResult::optional_int_at(int row, int col) const {
  if (null_at(row, col)) return std::nullopt;
  return int_at(row, col);
}

std::uint64_t PgResult::affected() const {
  const char* n = PQcmdTuples(r_);
  return n && *n ? std::strtoull(n, nullptr, 10) : 0;
}

std::string_view PgResult::command() const {
  const char* tag = PQcmdStatus(r_);
  return tag ? tag : "";
}

// ---- PgConnection ----

Result<std::unique_ptr<PgConnection>> PgConnection::connect(const std::string& url, const PgOptions& options,
                                                            bool read_only) {
  // Defaults first, then the URL (dbname, expanded): what the URL says wins.
  const std::string connect_timeout = std::to_string(std::max<std::int64_t>(2, options.connect_timeout.count()));
  // Keepalives and tcp_user_timeout bound how long a call waits on a peer
  // that vanished without closing the connection (a partition, a dead host).
  const char* const keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                              "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                              "application_name",    "dbname",           nullptr};
  const char* const values[] = {connect_timeout.c_str(), "1", "10", "5", "3", "30000", "quire", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Error{kDomain, kIo, "postgres connect: out of memory"};
  if (PQstatus(conn) != CONNECTION_OK) {
    Error e{kDomain, kIo, "postgres connect: " + first_line(PQerrorMessage(conn))};
    PQfinish(conn);
    return e;
  }
  // Server notices (e.g. "already exists, skipping") are not ours to print.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  std::unique_ptr<PgConnection> out(new PgConnection(conn));  // NOLINT: private constructor
  PgParams p;
  p.text(std::to_string(options.statement_timeout.count())).boolean(read_only);
  auto set = out->exec("session settings",
                       "SELECT set_config('synchronous_commit', 'on', false), "
                       "CASE WHEN current_setting('statement_timeout') = '0' AND $1 <> '0' "
                       "THEN set_config('statement_timeout', $1, false) END, "
                       "CASE WHEN $2 THEN set_config('default_transaction_read_only', 'on', false) END",
                       p);
  if (!set) return set.error();
  return out;
}

PgConnection::~PgConnection() {
  PQfinish(conn_);
}

Error PgConnection::fail(std::string_view what, pg_result* result) {
  last_error_ = {};
  std::string message;
  if (result != nullptr) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const char* constraint = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
    last_error_.sqlstate = state ? state : "";
    last_error_.constraint = constraint ? constraint : "";
    message = first_line(PQresultErrorMessage(result));
    PQclear(result);
  } else {
    message = first_line(PQerrorMessage(conn_));
  }
  if (PQstatus(conn_) != CONNECTION_OK || is_connection_loss(last_error_.sqlstate)) broken_ = true;
  if (message.empty()) message = first_line(PQerrorMessage(conn_));
  return Error{kDomain, code_for(last_error_.sqlstate), std::string(what) + ": " + message};
}

Result<PgResult> PgConnection::exec(std::string_view what, const char* sql, const PgParams& params) {
  if (params.has_nul_) {
    return Error{kDomain, kInvalid, std::string(what) + ": text with a NUL byte"};
  }
  const std::size_t n = params.values_.size();
  std::vector<unsigned> types(n, 0);
  std::vector<const char*> values(n, nullptr);
  std::vector<int> lengths(n, 0);
  std::vector<int> formats(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const PgParams::Value& v = params.values_[i];
    if (v.is_null) continue;
    values[i] = v.data.c_str();
    lengths[i] = static_cast<int>(v.data.size());
    if (v.is_bytea) {
      types[i] = kByteaOid;
      formats[i] = 1;
    }
  }
  PGresult* r = PQexecParams(conn_, sql, static_cast<int>(n), types.data(), values.data(), lengths.data(),
                             formats.data(), /*resultFormat=*/1);
  if (r == nullptr) return fail(what, nullptr);
  const ExecStatusType status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail(what, r);
  return PgResult(r);
}

Status PgConnection::exec_script(std::string_view what, const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  if (r == nullptr) return fail(what, nullptr);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) return fail(what, r);
  PQclear(r);
  return {};
}

Status PgConnection::commit() {
  auto r = exec("commit", "COMMIT");
  if (!r) return r.error();
  if (r->command() != "COMMIT") return Error{kDomain, kIo, "commit: the transaction was aborted"};
  return {};
}

void PgConnection::rollback() {
  if (PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
  if (!exec("rollback", "ROLLBACK")) broken_ = true;
}

bool PgConnection::usable() const {
  return !broken_ && PQstatus(conn_) == CONNECTION_OK;
}

bool PgConnection::check_alive() {
  if (!usable()) return false;
  pollfd p{PQsocket(conn_), POLLIN, 0};
  if (poll(&p, 1, 0) > 0 && PQconsumeInput(conn_) == 0) broken_ = true;
  return usable();
}

bool PgConnection::idle() const {
  return PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

// ---- PgPool ----

PgPool::PgPool(std::string url, PgOptions options, bool read_only)
    : url_(std::move(url)), options_(std::move(options)), read_only_(read_only) {}

PgPool::~PgPool() = default;

PgPool::Lease::~Lease() {
  if (conn_) pool_->give_back(std::move(conn_));
}

void PgPool::give_back(std::unique_ptr<PgConnection> conn) {
  const bool keep = conn->usable() && conn->idle();
  if (!keep) conn.reset();  // closed outside the lock
  {
    std::lock_guard lock(mu_);
    if (keep) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  freed_.notify_one();
}

Result<PgPool::Lease> PgPool::acquire() {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + options_.connect_timeout + options_.statement_timeout;
  const std::size_t max_open = std::max<std::size_t>(1, options_.pool_size);
  std::unique_lock lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      lock.unlock();
      // A restarted server closed its end while the connection sat here.
      if (conn->check_alive()) return Lease(this, std::move(conn));
      conn.reset();
      lock.lock();
      --open_;
    }
    if (open_ < max_open) break;
    if (options_.statement_timeout.count() == 0) {
      freed_.wait(lock);
    } else if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= max_open) {
      return Error{kDomain, kIo, "postgres: no free connection in the pool"};
    }
  }
  if (failures_ > 0 && Clock::now() < retry_at_) {
    return Error{kDomain, kIo, "postgres unreachable (retrying shortly): " + last_failure_};
  }
  ++open_;
  lock.unlock();
  auto conn = PgConnection::connect(url_, options_, read_only_);
  lock.lock();
  if (!conn) {
    --open_;
    ++failures_;
    const auto pause = std::min<std::chrono::milliseconds>(
        options_.max_backoff, std::chrono::milliseconds(50LL << std::min(failures_ - 1, 16)));
    retry_at_ = Clock::now() + pause;
    last_failure_ = conn.error().message;
    lock.unlock();
    freed_.notify_one();
    return conn.error();
  }
  failures_ = 0;
  return Lease(this, std::move(*conn));
}

}  // namespace quire::storage
