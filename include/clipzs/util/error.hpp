// Typed errors of the clipzs library. The library never prints to stdout and never exits: it throws
// clipzs::Error, and the CLI maps Error::kind() to an exit code in one place (tools/clipzs/exit_codes.cpp,
// documented in docs/exit-codes.md).
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace clipzs {

// Names in messages. The library does not spell any front end's flags or commands. A message (an
// Error's what or hint, a log line, a verification note) names a parameter of a library call with
// param("batch_size") — the field of its params struct — and another library call with
// call("embed_texts"). Error::what(), Error::hint() and the default log sink show the plain names
// ("batch_size", "embed_texts"); a front end shows its own spelling with render_names() (the CLI:
// "--batch-size", "clipzs embed texts"; see tools/clipzs/names.cpp).
std::string param(std::string_view name);
std::string call(std::string_view name);

// How a front end spells a name: (name, is_call) -> text.
using NameRenderer = std::function<std::string(std::string_view name, bool is_call)>;
// `text` with every marked name rendered by `renderer` (empty: the plain names).
std::string render_names(std::string_view text, const NameRenderer& renderer = {});

enum class ErrorKind {
  kUsage,        // invalid option values or combinations the argument parser could not catch
  kInput,        // an input file (image, class list, CSV, store to read) is missing or malformed
  kModel,        // a model bundle is missing, damaged, or not what it claims (hashes, shapes)
  kOutput,       // the output cannot be written, or an existing output belongs to another run
  kUnsupported,  // a valid request this build cannot serve (e.g. --device cuda on a CPU LibTorch)
  kInterrupted,  // the run was stopped by a signal; partial work is resumable
  kInternal,     // a bug: an invariant of clipzs itself failed
};

// Stable lower-case name ("usage", "input", ...), used in logs and JSON summaries.
const char* error_kind_name(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
 public:
  // `what` says what went wrong and names the file/row; `hint` says what to do about it (may be empty).
  // Both may name parameters and calls (param(), call()).
  Error(ErrorKind kind, std::string what, std::string hint = {})
      : std::runtime_error(render_names(what)), kind_(kind), hint_(render_names(hint)), marked_what_(std::move(what)),
        marked_hint_(std::move(hint)) {}
  ErrorKind kind() const noexcept { return kind_; }
  const std::string& hint() const noexcept { return hint_; }  // with plain names, as what()
  // The texts with their names still marked, for render_names().
  const std::string& marked_what() const noexcept { return marked_what_; }
  const std::string& marked_hint() const noexcept { return marked_hint_; }

 private:
  ErrorKind kind_;
  std::string hint_;
  std::string marked_what_;
  std::string marked_hint_;
};

}  // namespace clipzs
