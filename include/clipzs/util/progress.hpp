// Progress of a long library call, reported to a caller-supplied callback (the CLI draws it on stderr;
// the library itself never prints). Callbacks run on the calling thread unless an API says otherwise,
// and never concurrently with each other.
#pragma once

#include <cstdint>
#include <functional>

namespace clipzs {

struct Progress {
  int64_t done = 0;     // units finished (rows, steps, work items), including units found done by a resume
  int64_t total = 0;
  int64_t errors = 0;   // rows with status "error" in this run (embedding runs)
  double elapsed_s = 0; // since this run started
  int64_t done_this_run = 0;
  // A call of several stages names each (embed_pairs: "images", "captions"); a string that lives as
  // long as the program (a literal), so that a callback may keep the pointer.
  const char* stage = nullptr;
};
using ProgressCallback = std::function<void(const Progress&)>;

// `progress` with every update's stage set to `stage` (a literal), so that a caller tells the stages of
// a call apart; an empty callback stays empty.
inline ProgressCallback in_stage(const ProgressCallback& progress, const char* stage) {
  if (!progress) return {};
  return [progress, stage](const Progress& p) {
    Progress named = p;
    named.stage = stage;
    progress(named);
  };
}

}  // namespace clipzs
