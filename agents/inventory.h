// Inventory files: the GPUs of a simulated node, read from JSON.
//
// An inventory file is a `berth.v1.Inventory` message in JSON (see
// proto/berth/v1/agent.proto). Each entry names a catalog GPU type, or gives
// `memory_gib` for a custom card, and a count:
//
//   {"gpus": [{"type": "h100-80gb", "count": 8}], "labels": {"rack": "r1"}}
//
// LoadInventory() turns the file into the `Register` message the agent sends
// first: one `Gpu` per card, indexed 0.. in file order, with the catalog's
// canonical type name and memory, a deterministic uuid "GPU-sim-<node>-<i>"
// and a synthesised PCI bus id. Unknown JSON fields are errors, and every
// error names the file and the offending field (`gpus[1].type`).
#ifndef BERTH_AGENTS_INVENTORY_H_
#define BERTH_AGENTS_INVENTORY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/v1/agent.pb.h"

namespace berth::agent {

inline constexpr int64_t kMaxInventoryFileBytes = int64_t{1} << 20;
inline constexpr int kMaxGpusPerEntry = 64;
inline constexpr int kMaxCustomGib = 1024;
inline constexpr size_t kMaxNodeNameLength = 253;

// OK when `node` is 1 to 253 characters of [A-Za-z0-9._-].
absl::Status ValidateNodeName(absl::string_view node);

// Expands `inventory` into a Register for `node`. `source` prefixes errors
// ("inventory <source>: gpus[0].count: ...").
absl::StatusOr<v1::Register> InventoryToRegister(const v1::Inventory& inventory,
                                                 absl::string_view node, absl::string_view source);

// Parses inventory JSON text; `source` names it in errors.
absl::StatusOr<v1::Register> ParseInventory(absl::string_view json, absl::string_view node,
                                            absl::string_view source);

// Reads and parses the inventory file at `path` (NotFound when missing,
// InvalidArgument when larger than 1 MiB or invalid).
absl::StatusOr<v1::Register> LoadInventory(const std::string& path, absl::string_view node);

}  // namespace berth::agent

#endif  // BERTH_AGENTS_INVENTORY_H_
