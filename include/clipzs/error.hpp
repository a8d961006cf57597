// Typed errors of the clipzs library. The library never prints to stdout and never exits: it throws
// clipzs::Error, and the CLI maps Error::kind() to an exit code in one place (tools/clipzs/exit_codes.cpp,
// documented in docs/exit-codes.md).
#pragma once

#include <stdexcept>
#include <string>

namespace clipzs {

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
  Error(ErrorKind kind, std::string what, std::string hint = {})
      : std::runtime_error(std::move(what)), kind_(kind), hint_(std::move(hint)) {}
  ErrorKind kind() const noexcept { return kind_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  ErrorKind kind_;
  std::string hint_;
};

}  // namespace clipzs
