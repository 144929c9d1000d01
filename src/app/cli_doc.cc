// `quire doc …`: documents built by applying updates with the engine.
#include <cstdio>
#include <string>
#include <vector>

#include "app/cli.h"
#include "crdt/doc.h"

namespace quire::app {

namespace {

// Applies every input, in the order given, to a fresh document.
int build_doc(const Options& o, crdt::Doc& doc) {
  std::vector<std::unique_ptr<Bytes>> storage;
  std::vector<ByteView> updates;
  if (const int rc = load_updates(o, storage, updates); rc >= 0) return rc;
  for (std::size_t i = 0; i < updates.size(); ++i) {
    const Status st = doc.apply_update(updates[i], o.format);
    if (!st.ok()) return fail("update " + std::to_string(i) + ": " + st.error().message);
  }
  return -1;
}

// Writes `value` as one line of JSON.
int print_json(const crdt::Any& value) {
  std::string json;
  crdt::stringify_json(value, json);
  json += '\n';
  return write_stdout(as_bytes(json)) ? kExitOk : fail("cannot write to stdout");
}

}  // namespace

void print_doc_usage() {
  std::printf(
      "doc verbs (updates applied in the order given to a fresh document):\n"
      "  quire doc apply [--framed FILE]... [FILE]...      the document's state as one update (v1, --to v2)\n"
      "  quire doc text --name NAME [--framed FILE]... [FILE]...   the Text root NAME as plain text\n"
      "  quire doc json [--framed FILE]... [FILE]...       every root as JSON, as Yjs's toJSON prints it\n"
      "  quire doc prosemirror --name NAME [--framed FILE]... [FILE]...   the XmlFragment NAME as ProseMirror\n"
      "                                                    JSON (y-prosemirror's yXmlFragmentToProsemirrorJSON)\n"
      "options: --format v1|v2 (input), --no-gc (keep deleted content)\n");
}

int run_doc(const std::vector<std::string>& args) {
  if (args.empty()) return usage("doc needs a verb: apply, text, json or prosemirror");
  const std::string& verb = args[0];
  Options o;
  if (const int rc = parse_options(args, 1, o); rc >= 0) return rc;
  if (o.files.empty()) return usage("doc " + verb + " needs at least one file");
  crdt::Doc doc(crdt::DocOptions{.gc = o.gc, .client_id = 0, .limits = o.limits});
  if (verb == "apply") {
    if (const int rc = build_doc(o, doc); rc >= 0) return rc;
    return emit(doc.encode_state_as_update({}, o.to_given ? o.to : crdt::UpdateFormat::kV1), "apply");
  }
  if (verb == "text") {
    if (o.name.empty()) return usage("doc text needs --name NAME");
    if (const int rc = build_doc(o, doc); rc >= 0) return rc;
    const std::string text = doc.text(o.name);
    return write_stdout(as_bytes(text)) ? kExitOk : fail("cannot write to stdout");
  }
  if (verb == "json") {
    if (const int rc = build_doc(o, doc); rc >= 0) return rc;
    return print_json(doc.to_json());
  }
  if (verb == "prosemirror") {
    if (o.name.empty()) return usage("doc prosemirror needs --name NAME");
    if (const int rc = build_doc(o, doc); rc >= 0) return rc;
    const auto pm = doc.prosemirror_json(o.name);
    if (!pm.ok()) return fail(pm.error().message);
    return print_json(*pm);
  }
  return usage("unknown doc verb '" + verb + "'");
}

}  // namespace quire::app
