#include "cli/submit_batch.h"

#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/exit_codes.h"
#include "cli/job_output.h"
#include "cli/text.h"
#include "common/limits.h"

namespace berth::cli {
namespace {

absl::Status BadArray(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--array: \"", Printable(text), "\": ", why, " (use 1-500, 0-15:4 or 1,3,5-7)"));
}

// One index, 0 to kMaxArrayIndex.
bool ParseIndex(absl::string_view text, int64_t* index) {
  return !text.empty() && absl::SimpleAtoi(text, index) && text[0] != '+' && text[0] != '-' &&
         *index >= 0 && *index <= kMaxArrayIndex;
}

// "101-600" (or "101" alone) for a sorted run of ids.
std::string IdRanges(const std::vector<int64_t>& ids) {
  std::string text;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!text.empty()) text += ", ";
    absl::StrAppend(&text, ids[i]);
    if (j > i) absl::StrAppend(&text, "-", ids[j]);
    i = j + 1;
  }
  return text;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ParseArrayIndices(absl::string_view text) {
  if (text.empty()) return BadArray(text, "no indices");
  std::vector<int32_t> indices;
  std::set<int32_t> seen;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    std::pair<absl::string_view, absl::string_view> range_step = absl::StrSplit(item, ':');
    std::pair<absl::string_view, absl::string_view> bounds =
        absl::StrSplit(range_step.first, absl::MaxSplits('-', 1));
    int64_t first = 0;
    int64_t last = 0;
    int64_t step = 1;
    if (!ParseIndex(bounds.first, &first)) {
      return BadArray(item, absl::StrCat("an index is a whole number from 0 to ", kMaxArrayIndex));
    }
    last = first;
    if (!bounds.second.empty() || absl::StrContains(range_step.first, '-')) {
      if (!ParseIndex(bounds.second, &last)) {
        return BadArray(item,
                        absl::StrCat("an index is a whole number from 0 to ", kMaxArrayIndex));
      }
      if (last < first) return BadArray(item, "a range must not run backwards");
    }
    if (absl::StrContains(item, ':')) {
      if (last == first && !absl::StrContains(range_step.first, '-')) {
        return BadArray(item, "a step needs a range");
      }
      if (!absl::SimpleAtoi(range_step.second, &step) || step < 1 || step > kMaxArrayIndex) {
        return BadArray(item, "a step is a whole number of at least 1");
      }
    }
    for (int64_t i = first; i <= last; i += step) {
      if (indices.size() >= static_cast<size_t>(kMaxSubmitBatch)) {
        return BadArray(text, absl::StrCat("more than ", kMaxSubmitBatch,
                                           " jobs; submit a large sweep in several arrays"));
      }
      if (!seen.insert(static_cast<int32_t>(i)).second) {
        return BadArray(item, absl::StrCat("index ", i, " is given twice"));
      }
      indices.push_back(static_cast<int32_t>(i));
    }
  }
  return indices;
}

absl::StatusOr<berth::v1::SubmitJobsRequest> BuildSubmitJobsRequest(
    const std::vector<berth::v1::JobSpec>& specs, const std::optional<std::string>& array,
    const std::string& call_id) {
  std::vector<int32_t> indices;
  if (array.has_value()) {
    absl::StatusOr<std::vector<int32_t>> parsed = ParseArrayIndices(*array);
    if (!parsed.ok()) return parsed.status();
    indices = *std::move(parsed);
  }
  const size_t per_spec = array.has_value() ? indices.size() : 1;
  if (specs.size() * per_spec > static_cast<size_t>(kMaxSubmitBatch)) {
    return absl::InvalidArgumentError(absl::StrCat(
        specs.size() * per_spec, " jobs (", specs.size(), " files × ", per_spec,
        " indices) is over the limit of ", kMaxSubmitBatch, " a call; submit them in parts"));
  }
  berth::v1::SubmitJobsRequest request;
  for (const berth::v1::JobSpec& spec : specs) {
    for (size_t k = 0; k < per_spec; ++k) {
      berth::v1::JobSpec& job = *request.add_specs();
      job = spec;
      const int position = request.specs_size() - 1;
      if (array.has_value()) job.set_array_index(indices[k]);
      if (spec.request_id().empty()) {
        job.set_request_id(absl::StrCat(call_id, "/", position));
      } else if (array.has_value()) {
        job.set_request_id(absl::StrCat(spec.request_id(), "[", indices[k], "]"));
      }
    }
  }
  return request;
}

void PrintBatchSubmitted(const berth::v1::SubmitJobsResponse& response, std::ostream& out) {
  std::vector<int64_t> queued;
  std::vector<int64_t> again;
  for (const auto& result : response.results()) {
    if (!result.error().empty() || result.job().state() == berth::v1::REJECTED) continue;
    (result.duplicate() ? again : queued).push_back(result.job().id());
  }
  if (!queued.empty()) {
    out << "submitted " << queued.size() << (queued.size() == 1 ? " job: " : " jobs: ")
        << IdRanges(queued) << "\n";
  }
  if (!again.empty()) {
    out << "already submitted with these request ids: " << IdRanges(again) << "\n";
  }
  for (int i = 0; i < response.results_size(); ++i) {
    const auto& result = response.results(i);
    if (!result.error().empty()) {
      out << "spec " << i << ": not submitted: " << Printable(result.error()) << "\n";
    } else if (result.job().state() == berth::v1::REJECTED) {
      out << "job " << result.job().id() << ": REJECTED: " << Printable(result.job().reason())
          << "\n";
    }
  }
}

int BatchExitCode(const berth::v1::SubmitJobsResponse& response) {
  for (const auto& result : response.results()) {
    if (!result.error().empty() || result.job().state() == berth::v1::REJECTED) {
      return kExitRefused;
    }
  }
  return kExitOk;
}

}  // namespace berth::cli
