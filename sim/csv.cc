#include "sim/csv.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace berth::sim {

absl::StatusOr<Table> Table::Parse(absl::string_view text, char separator,
                                   absl::string_view source) {
  Table table;
  table.source_ = std::string(source);
  int64_t line_number = 0;
  bool header = true;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::vector<std::string> cells = absl::StrSplit(line, separator);
    for (std::string& cell : cells) cell = std::string(absl::StripAsciiWhitespace(cell));
    if (header) {
      for (size_t i = 0; i < cells.size(); ++i) {
        if (!table.columns_.try_emplace(cells[i], static_cast<int>(i)).second) {
          return absl::InvalidArgumentError(absl::StrCat(source, " line ", line_number,
                                                         ": column \"", cells[i],
                                                         "\" appears twice in the header"));
        }
      }
      header = false;
      continue;
    }
    if (cells.size() != table.columns_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(source, " line ", line_number, ": ",
                                                     cells.size(), " columns, but the header has ",
                                                     table.columns_.size()));
    }
    table.rows_.push_back(Row{.line = line_number, .cells = std::move(cells)});
  }
  if (header) return absl::InvalidArgumentError(absl::StrCat(source, ": no header line"));
  return table;
}

absl::Status Table::Require(const std::vector<std::string>& columns) const {
  std::vector<std::string> missing;
  for (const std::string& column : columns) {
    if (!Has(column)) missing.push_back(column);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(source_, " line 1: the header lacks column(s) ", absl::StrJoin(missing, ", ")));
}

std::string Table::Text(const Row& row, absl::string_view column) const {
  auto it = columns_.find(column);
  return it == columns_.end() ? std::string() : row.cells[it->second];
}

absl::StatusOr<int64_t> Table::Int(const Row& row, absl::string_view column,
                                   std::optional<int64_t> empty) const {
  const std::string cell = Text(row, column);
  if (cell.empty() && empty) return *empty;
  int64_t value = 0;
  if (!absl::SimpleAtoi(cell, &value)) {
    return Error(row, column, absl::StrCat("\"", cell, "\" is not a whole number"));
  }
  return value;
}

absl::Status Table::Error(const Row& row, absl::string_view column, absl::string_view why) const {
  auto it = columns_.find(column);
  const int index = it == columns_.end() ? 0 : it->second + 1;
  return absl::InvalidArgumentError(
      absl::StrCat(source_, " line ", row.line, ", column ", index, " (", column, "): ", why));
}

}  // namespace berth::sim
