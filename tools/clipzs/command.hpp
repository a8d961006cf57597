// Shared pieces of the clipzs subcommands. Each subcommand file registers itself on the CLI11 app and
// leaves its work in `Action`; main.cpp runs the chosen action inside run_guarded(), the one place
// where library errors become exit codes (exit_codes.cpp, docs/exit-codes.md).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "clipzs/pipeline/embed.hpp"
#include "clipzs/util/error.hpp"
#include "clipzs/model/model.hpp"

namespace spdlog {
class logger;
}

namespace clipzs::cli {

using Action = std::function<void()>;

void register_embed(CLI::App& app, Action& action);
void register_info(CLI::App& app, Action& action);
void register_tokenize(CLI::App& app, Action& action);
void register_preprocess(CLI::App& app, Action& action);
void register_infer(CLI::App& app, Action& action);
void register_eval(CLI::App& app, Action& action);
void register_adapt(CLI::App& app, Action& action);
void register_index(CLI::App& app, Action& action);  // `index build` (cmd_index.cpp)
void register_verify(CLI::App& app, Action& action);  // `verify` (cmd_verify.cpp)
void register_merge(CLI::App& app, Action& action);   // `merge` (cmd_merge.cpp)

// `adapt <method>` subcommands register themselves, one file each (cmd_adapt_<method>.cpp):
//   const AdaptCommand kRegistered("transclip", register_adapt_transclip);
// `adapt` adds them in the order of the library's method registry (include/clipzs/methods/method.hpp).
using AdaptRegistrar = void (*)(CLI::App* adapt, Action& action);
struct AdaptCommand {
  AdaptCommand(const char* method, AdaptRegistrar registrar);
};
// What every `adapt <method>` does before its work: refuse an --out that exists (without --overwrite)
// before any work, and set LibTorch's threads (--threads 0: every core).
void begin_adapt(const std::string& out, bool overwrite, int threads);

// The CLI's spelling of a library name (clipzs/util/error.hpp): a parameter is its flag ("--batch-size"), a
// call its subcommand ("clipzs embed texts"). cli_text() renders every marked name of a library text.
std::string cli_name(std::string_view name, bool is_call);
std::string cli_text(std::string_view marked);

// Exit codes (docs/exit-codes.md).
int exit_code_for(ErrorKind kind) noexcept;
constexpr int kExitUsage = 2;
// Runs `action`, prints any error with its hint to stderr, and returns the exit code.
int run_guarded(const Action& action);

// Set by SIGINT/SIGTERM; long runs stop after the current batch and stay resumable.
const std::atomic<bool>& interrupt_flag();
void install_signal_handlers();

// Progress on stderr (progress.cpp): on a terminal a line redrawn in place (count, %, rate, ETA);
// otherwise a log line every `log_every_s` seconds and one when a stage completes. `unit` names what
// is counted ("rows", "steps"). An empty callback when `disabled` (--no-progress) or --quiet.
void configure_progress(bool quiet, double log_every_s);
// The stderr logger main() installs: colour where stderr is a terminal, and a drawn progress line is
// cleared before each log line.
std::shared_ptr<spdlog::logger> make_stderr_logger();
ProgressCallback make_progress(const std::string& what, const std::string& unit, bool disabled);
void finish_progress();

// The options of the command being run, as they took effect (command line, then --config file, then
// defaults), for results and states to record: {"command": "adapt inmap", "config": FILE or null,
// "options": {"tau-i": "0.04", ...}}. Set by main() after parsing (record_effective_options).
void record_effective_options(const CLI::App& app);
const nlohmann::json& effective_options();

// --dtype's check: the value is parsed once, here, and replaced by its canonical name ("float32" ->
// "fp32"), so everything after the command line (cache keys, results) sees one spelling per precision.
CLI::Validator canonical_dtype();

// Runtime options from the CLI's --device/--dtype/--threads (threads 0: every core); loads the
// chosen towers, warming the image tower up when it is loaded.
RuntimeOptions runtime_options(const std::string& device, const std::string& dtype, int threads, bool image, bool text);

// One JSON line on stdout: the machine-readable result of a subcommand.
void print_summary(const nlohmann::json& summary);

}  // namespace clipzs::cli
