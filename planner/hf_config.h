// Reading a model shape from a Hugging Face `config.json`.
//
// The JSON text itself is parsed outside the planner (the planner has no
// JSON dependency); what arrives here is the object's top-level keys as a
// flat map of numbers, booleans and strings. Nested objects such as
// `text_config` are flattened with a dot ("text_config.hidden_size").
// `ModelFromHfConfig()` knows the key names each architecture family uses
// (Llama/Mistral/Mixtral/Qwen2 `num_hidden_layers`, GPT-NeoX, Falcon
// `n_head`/`num_kv_heads`, BLOOM `n_embed`, GPT-2 style `n_layer`) and
// returns InvalidArgument naming the missing or bad key.
#ifndef BERTH_PLANNER_HF_CONFIG_H_
#define BERTH_PLANNER_HF_CONFIG_H_

#include <string>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "planner/model.h"

namespace berth::planner {

using HfValue = std::variant<double, bool, std::string>;
using HfConfig = absl::flat_hash_map<std::string, HfValue>;

// `name` labels the result (for example the file's folder name).
absl::StatusOr<ModelShape> ModelFromHfConfig(const HfConfig& config, absl::string_view name);

}  // namespace berth::planner

#endif  // BERTH_PLANNER_HF_CONFIG_H_
