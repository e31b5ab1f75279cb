#include "cli/exit_codes.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace berth::cli {

std::string ExitCodeFooter(std::initializer_list<ExitCodeDoc> codes) {
  std::string footer = "Exit codes:\n";
  for (const ExitCodeDoc& doc : codes) {
    absl::StrAppend(&footer, "  ", doc.code, "  ", doc.meaning, "\n");
  }
  return footer;
}

}  // namespace berth::cli
