// Text from a user or a node made safe for a terminal.
//
// Job names, teams, reasons, event messages, node names, labels and error
// messages come from other people and from nodes. Printed raw, an escape
// sequence in them could recolour, hide or rewrite what the reader sees, and
// a newline could forge a table row. Every human-form print of such text
// goes through Printable():
//
//   out << "job " << job.id() << ": " << Printable(job.spec().name());
//
// JSON output needs nothing: protobuf's JSON printer escapes controls.
#ifndef BERTH_CLI_TEXT_H_
#define BERTH_CLI_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace berth::cli {

// `text` with every control character spelled out, so it prints as itself:
// C0 controls and DEL as C escapes ("\n", "\t", "\r") or "\xNN" (ESC is
// "\x1b"), C1 controls (U+0080 to U+009F) as "\u0080" to "\u009f", and bytes
// that are not UTF-8 as "\xNN". Other UTF-8 text (including "×" and "é") and
// backslashes are kept, so Printable(Printable(x)) == Printable(x).
std::string Printable(absl::string_view text);

}  // namespace berth::cli

#endif  // BERTH_CLI_TEXT_H_
