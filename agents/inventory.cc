#include "agents/inventory.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "planner/catalog.h"
#include "planner/gpu.h"

namespace berth::agent {
namespace {

absl::Status Invalid(absl::string_view source, absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("inventory ", source, ": ", field, ": ", message));
}

std::string KnownGpuNames() {
  std::vector<std::string> names;
  for (const planner::GpuType& gpu : planner::GpuCatalog()) {
    names.push_back(gpu.name);
  }
  return absl::StrJoin(names, ", ");
}

// The type name and memory of one entry: a catalog card or a custom one.
absl::StatusOr<planner::GpuType> EntryGpuType(const v1::Inventory::GpuEntry& entry,
                                              absl::string_view field, absl::string_view source) {
  const bool has_type = !entry.type().empty();
  const bool has_memory = entry.memory_gib() != 0;
  if (has_type == has_memory) {
    return Invalid(source, field,
                   "set exactly one of \"type\" (a catalog name) and "
                   "\"memory_gib\" (a custom card)");
  }
  if (has_type) {
    absl::StatusOr<planner::GpuType> gpu = planner::FindGpu(entry.type());
    if (!gpu.ok()) {
      return Invalid(
          source, absl::StrCat(field, ".type"),
          absl::StrCat("unknown GPU type \"", entry.type(), "\"; known: ", KnownGpuNames()));
    }
    return *std::move(gpu);
  }
  const double gib = entry.memory_gib();
  if (!(gib >= 1 && gib <= kMaxCustomGib) || gib != std::floor(gib)) {
    return Invalid(source, absl::StrCat(field, ".memory_gib"),
                   absl::StrCat(gib, " is not a whole number from 1 to ", kMaxCustomGib));
  }
  const int64_t whole = static_cast<int64_t>(gib);
  return planner::GpuType{.name = absl::StrCat("custom-", whole, "gb"),
                          .memory_bytes = whole * planner::kGiB};
}

absl::StatusOr<int> EntryCount(const v1::Inventory::GpuEntry& entry, absl::string_view field,
                               absl::string_view source) {
  if (entry.count() == 0) return 1;
  if (entry.count() < 1 || entry.count() > kMaxGpusPerEntry) {
    return Invalid(source, absl::StrCat(field, ".count"),
                   absl::StrCat(entry.count(), " is not from 1 to ", kMaxGpusPerEntry,
                                " (0 or absent means 1)"));
  }
  return entry.count();
}

void AddGpu(const planner::GpuType& type, absl::string_view node, v1::Register& reg) {
  const int index = reg.gpus_size();
  v1::Gpu* gpu = reg.add_gpus();
  gpu->set_index(index);
  gpu->set_uuid(absl::StrCat("GPU-sim-", node, "-", index));
  gpu->set_type(type.name);
  gpu->set_memory_bytes(static_cast<double>(type.memory_bytes));
  gpu->set_pci_bus_id(absl::StrFormat("%08X:%02X:00.0", index / 256, index % 256));
}

absl::StatusOr<std::string> ReadInventoryFile(const std::string& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::NotFoundError(absl::StrCat("inventory ", path, ": no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("inventory ", path, ": cannot open"));
  }
  std::string text;
  text.resize(kMaxInventoryFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (static_cast<int64_t>(text.size()) > kMaxInventoryFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inventory ", path, ": larger than ", kMaxInventoryFileBytes, " bytes; not an inventory"));
  }
  return text;
}

}  // namespace

absl::Status ValidateNodeName(absl::string_view node) {
  if (node.empty() || node.size() > kMaxNodeNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("node name \"", node, "\" must be 1 to ", kMaxNodeNameLength, " characters"));
  }
  for (char c : node) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat("node name \"", node,
                                                     "\" may hold only A-Z, a-z, 0-9, '.', '_' "
                                                     "and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Register> InventoryToRegister(const v1::Inventory& inventory,
                                                 absl::string_view node, absl::string_view source) {
  BERTH_RETURN_IF_ERROR(ValidateNodeName(node));
  if (inventory.gpus().empty()) {
    return Invalid(source, "gpus", "lists no GPUs");
  }
  v1::Register reg;
  reg.set_node(std::string(node));
  for (int i = 0; i < inventory.gpus_size(); ++i) {
    const v1::Inventory::GpuEntry& entry = inventory.gpus(i);
    const std::string field = absl::StrCat("gpus[", i, "]");
    BERTH_ASSIGN_OR_RETURN(planner::GpuType type, EntryGpuType(entry, field, source));
    BERTH_ASSIGN_OR_RETURN(int count, EntryCount(entry, field, source));
    for (int n = 0; n < count; ++n) AddGpu(type, node, reg);
  }
  reg.mutable_labels()->insert(inventory.labels().begin(), inventory.labels().end());
  return reg;
}

absl::StatusOr<v1::Register> ParseInventory(absl::string_view json, absl::string_view node,
                                            absl::string_view source) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  v1::Inventory inventory;
  const auto status =
      google::protobuf::util::JsonStringToMessage({json.data(), json.size()}, &inventory, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inventory ", source, ": ",
                     absl::StrReplaceAll(absl::StripAsciiWhitespace(std::string(status.message())),
                                         {{"\n", " "}})));
  }
  return InventoryToRegister(inventory, node, source);
}

absl::StatusOr<v1::Register> LoadInventory(const std::string& path, absl::string_view node) {
  BERTH_ASSIGN_OR_RETURN(std::string text, ReadInventoryFile(path));
  return ParseInventory(text, node, path);
}

}  // namespace berth::agent
