// A small reader for the delimited text files berth-sim takes (CSV with a
// header line, sacct's '|'-separated output): it finds columns by header
// name and turns cells into numbers, and every error names the source, the
// 1-based line and column and the column's name.
//
//   BERTH_ASSIGN_OR_RETURN(Table table, Table::Parse(text, ',', "jobs.csv"));
//   for (const Row& row : table.rows()) {
//     BERTH_ASSIGN_OR_RETURN(int64_t gpus, table.Int(row, "gpus"));
//   }
// No quoting: a cell may not hold the separator (none of these formats do).
#ifndef BERTH_SIM_CSV_H_
#define BERTH_SIM_CSV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::sim {

struct Row {
  int64_t line = 0;  // 1-based line in the file
  std::vector<std::string> cells;
};

class Table {
 public:
  static absl::StatusOr<Table> Parse(absl::string_view text, char separator,
                                     absl::string_view source);

  const std::vector<Row>& rows() const { return rows_; }
  bool Has(absl::string_view column) const { return columns_.contains(column); }
  // InvalidArgument unless the header has every one of `columns`.
  absl::Status Require(const std::vector<std::string>& columns) const;

  // The cell, "" when the column is absent from the header.
  std::string Text(const Row& row, absl::string_view column) const;
  // An integer cell; `empty` is returned for an empty cell when given.
  absl::StatusOr<int64_t> Int(const Row& row, absl::string_view column,
                              std::optional<int64_t> empty = std::nullopt) const;
  // InvalidArgument at the row and column, with `why`.
  absl::Status Error(const Row& row, absl::string_view column, absl::string_view why) const;

 private:
  std::string source_;
  absl::flat_hash_map<std::string, int> columns_;  // name → 0-based index
  std::vector<Row> rows_;
};

}  // namespace berth::sim

#endif  // BERTH_SIM_CSV_H_
