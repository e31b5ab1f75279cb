// --help for a binary whose Abseil flags live in `main.cc`: Abseil's --help
// lists only the flags of a file named after the program (berthd.cc,
// berthd_main.cc), so berthd and berth-agent name their own main.cc here.
// --helpfull still lists Abseil's flags too. Link absl::flags_usage.
#ifndef BERTH_COMMON_FLAGS_HELP_H_
#define BERTH_COMMON_FLAGS_HELP_H_

#include <string>

#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace berth {

// `main_file` is the path that ends the flags' file name, e.g.
// "daemon/main.cc"; help prints it as "Flags from daemon/main.cc", not the
// build machine's absolute path.
inline void ShowFlagsOfFileInHelp(const char* main_file) {
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = [main_file](absl::string_view file) {
    return absl::EndsWith(file, main_file);
  };
  config.contains_help_flags = config.contains_helpshort_flags;
  config.normalize_filename = [main_file](absl::string_view file) {
    const size_t at = file.rfind(main_file);
    return std::string(at == absl::string_view::npos ? file : file.substr(at));
  };
  absl::SetFlagsUsageConfig(config);
}

}  // namespace berth

#endif  // BERTH_COMMON_FLAGS_HELP_H_
