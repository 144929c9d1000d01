// Doc: a Yjs-compatible document — the struct store, YATA integration of remote
// updates (Yjs 13.6's Item.integrate), pending structs and delete sets, garbage
// collection, the post-transaction merging of adjacent items, and the encoded
// state, byte-identical to what a Yjs document holding the same updates writes.
// Spec: ../shared/spec/yjs-wire-format.md §7–§8, docs/engine.md.
//
// Thread-safety: none. A Doc is owned by one room and touched only on its strand.
// Limitations: no undo manager; sub-documents are kept as references (their
// contents are separate documents).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "crdt/any.h"
#include "crdt/update.h"

namespace quire::crdt {

namespace detail {
struct DocState;
struct Type;
}  // namespace detail

struct DocOptions {
  bool gc = true;               // drop deleted content (Yjs's default); false keeps history
  std::uint64_t client_id = 0;  // for local edits; 0 picks a random 32-bit id
  Limits limits{.max_structs = 1u << 26, .max_depth = 64};
};

// What a root type holds, as far as its content tells (updates never carry root kinds).
enum class RootKind : std::uint8_t { kUnknown, kText, kMap, kArray, kXmlFragment };

class Doc {
 public:
  explicit Doc(DocOptions options = {});
  ~Doc();
  Doc(Doc&&) noexcept;
  Doc& operator=(Doc&&) noexcept;

  // Yjs applyUpdate / applyUpdateV2. The update is decoded completely before the
  // document changes, so bad bytes leave it untouched.
  Status apply_update(ByteView update, UpdateFormat format = UpdateFormat::kV1);

  // Yjs encodeStateAsUpdate(doc, stateVector): everything the owner of
  // `state_vector` lacks (empty = the whole document), with pending data merged in.
  [[nodiscard]] Result<Bytes> encode_state_as_update(ByteView state_vector = {},
                                                     UpdateFormat format = UpdateFormat::kV1) const;
  // Called after every transaction that changed something with the v1 update it
  // emitted (Yjs's doc.on('update')): what a remote update actually added — or a
  // local edit made. Applying one remote update can emit two: its own and the
  // formatting cleanup's.
  void set_update_handler(std::function<void(ByteView)> handler);

  // Yjs's doc.getText / getMap / getArray / getXmlFragment(name): creates the root
  // if needed and, for Text, gives it YText's behaviour — after a remote change
  // that touches its formatting, redundant formatting markers are deleted (and
  // that deletion emitted as a local update), as every Yjs client that declared
  // the text does. Editing a root as text declares it.
  void declare(std::string_view name, RootKind kind);

  // Local edits (Yjs's YText.insert/delete/format, YMap.set, and appending a
  // y-prosemirror paragraph), each one transaction. Indices count UTF-16 units.
  // Returns the update the transaction emitted (empty if it changed nothing);
  // real Yjs clients apply it unchanged. `attributes` is an object of formats
  // (null values remove one); without it, inserted text takes the formats
  // active at `index`, as YText.insert does.
  Result<Bytes> insert_text(std::string_view root, std::uint64_t index, std::string_view text,
                            const Any* attributes = nullptr);
  Result<Bytes> delete_text(std::string_view root, std::uint64_t index, std::uint64_t length);
  Result<Bytes> format_text(std::string_view root, std::uint64_t index, std::uint64_t length, const Any& attributes);
  Result<Bytes> map_set(std::string_view root, std::string_view key, const Any& value);
  // Runs several edits as one transaction (Yjs's doc.transact): the edits called
  // inside return empty updates, this returns the transaction's.
  Result<Bytes> transact(const std::function<Status()>& edits);
  // Appends <paragraph>text</paragraph> (an XmlElement holding an XmlText) to an XmlFragment root.
  Result<Bytes> append_paragraph(std::string_view fragment, std::string_view text);

  // Yjs encodeStateVector(doc).
  [[nodiscard]] Bytes encode_state_vector() const;
  // Yjs getState(doc.store, client): the clock after the client's last struct
  // (0 for a client the document holds nothing of).
  [[nodiscard]] std::uint64_t state_of(std::uint64_t client) const;
  // Yjs snapshotContainsUpdate(snapshot(doc), update): whether applying `update`
  // would change nothing — every struct it holds is below its client's state
  // and every range it deletes is deleted here already (a zero-length range:
  // lies in or at the end of a deleted run, where mergeDeleteSets absorbs it).
  // An error for bytes that are not an update.
  [[nodiscard]] Result<bool> contains_update(ByteView update, UpdateFormat format = UpdateFormat::kV1) const;

  // Structs or deletions waiting for updates that never arrived.
  [[nodiscard]] bool has_pending_structs() const;
  [[nodiscard]] bool has_pending_delete_set() const;

  // Reading. Root names in the order the document first saw them.
  [[nodiscard]] std::vector<std::string> root_names() const;
  [[nodiscard]] RootKind root_kind(std::string_view name) const;
  // The root read as Text: its string content (YText.toString).
  [[nodiscard]] std::string text(std::string_view name) const;
  // The root read as Text: Yjs's toDelta() as a JSON array.
  [[nodiscard]] Any text_delta(std::string_view name) const;
  // Every root whose kind the content tells, as Yjs's toJSON() of that kind would
  // print it (see yjs-behaviours.md, "quire doc json"), in root order.
  [[nodiscard]] Any to_json() const;
  // One root read as `kind` (Yjs's getText/getMap/getArray/getXmlFragment(name).toJSON();
  // an unknown root reads as that kind's empty value).
  [[nodiscard]] Any root_json(std::string_view name, RootKind kind) const;
  // The XmlFragment root `fragment` as ProseMirror JSON, exactly as y-prosemirror
  // 1.3.7's yXmlFragmentToProsemirrorJSON builds it: {"type":"doc","content":[…]}
  // with elements as {type, attrs?, content?} and XmlText as text nodes with
  // marks (hashed mark names "bold--AbCd1234" read as "bold"); nested types in
  // attributes or text print their toJSON(), as JSON.stringify does. Content that
  // function throws on — an XmlHook or a non-XML child, an undefined mark value —
  // is an error here.
  [[nodiscard]] Result<Any> prosemirror_json(std::string_view fragment) const;

  [[nodiscard]] std::uint64_t client_id() const;

 private:
  std::unique_ptr<detail::DocState> s_;
};

}  // namespace quire::crdt
