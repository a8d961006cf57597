#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "command.hpp"

namespace clipzs::cli {

int exit_code_for(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kUsage: return 2;
    case ErrorKind::kInput: return 3;
    case ErrorKind::kModel: return 4;
    case ErrorKind::kOutput: return 5;
    case ErrorKind::kUnsupported: return 6;
    case ErrorKind::kInterrupted: return 130;
    case ErrorKind::kInternal: return 1;
  }
  return 1;
}

int run_guarded(const Action& action) {
  try {
    action();
    return 0;
  } catch (const Error& e) {
    finish_progress();
    std::fprintf(stderr, "clipzs: %s error: %s\n", error_kind_name(e.kind()), cli_text(e.marked_what()).c_str());
    if (!e.hint().empty()) std::fprintf(stderr, "  hint: %s\n", cli_text(e.marked_hint()).c_str());
    return exit_code_for(e.kind());
  } catch (const std::filesystem::filesystem_error& e) {
    // Library reads report their own Error(kInput); what reaches here is creating, renaming or
    // removing output folders and files.
    finish_progress();
    std::fprintf(stderr, "clipzs: output error: %s\n  hint: check that the output location is writable and has space\n", e.what());
    return exit_code_for(ErrorKind::kOutput);
  } catch (const std::bad_alloc&) {
    finish_progress();
    std::fprintf(stderr, "clipzs: out of memory\n  hint: lower --batch-size\n");
    return 1;
  } catch (const std::exception& e) {
    finish_progress();
    std::fprintf(stderr, "clipzs: internal error: %s\n  hint: please report this with the command line\n", e.what());
    return 1;
  }
}

namespace {
std::atomic<bool> g_interrupted{false};
void on_signal(int signal) {
  if (g_interrupted.exchange(true)) {  // a second Ctrl-C: stop at once; partial files stay resumable
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}
}  // namespace

const std::atomic<bool>& interrupt_flag() { return g_interrupted; }

void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

namespace {
nlohmann::json g_effective_options = nlohmann::json::object();

void add_options(const CLI::App& app, nlohmann::json& options) {
  for (const CLI::Option* opt : app.get_options()) {
    const std::string name = opt->get_single_name();
    if (name.empty() || name == "help" || name == "help-all" || name == "version" || name == "config") continue;
    if (opt == app.get_help_ptr() || opt == app.get_help_all_ptr() || opt == app.get_config_ptr()) continue;
    if (opt->count() > 0 && !opt->results().empty()) {
      const std::vector<std::string>& r = opt->results();
      // A list option is recorded as a list even when given once; a flag given twice is one value.
      options[name] = opt->get_items_expected_max() > 1 ? nlohmann::json(r) : nlohmann::json(r.back());
    } else if (!opt->get_default_str().empty()) {
      options[name] = opt->get_default_str();
    }
  }
}
}  // namespace

void record_effective_options(const CLI::App& app) {
  nlohmann::json options = nlohmann::json::object();
  std::string command;
  add_options(app, options);
  const CLI::App* cur = &app;
  while (true) {
    std::vector<const CLI::App*> subs = cur->get_subcommands([](const CLI::App* s) { return s->parsed(); });
    if (subs.empty()) break;
    cur = subs.front();
    command += (command.empty() ? "" : " ") + cur->get_name();
    add_options(*cur, options);
  }
  const CLI::Option* config = app.get_config_ptr();
  g_effective_options = {{"command", command},
                         {"config", config != nullptr && config->count() > 0 ? nlohmann::json(config->as<std::string>()) : nlohmann::json()},
                         {"options", options}};
}

const nlohmann::json& effective_options() { return g_effective_options; }

CLI::Validator canonical_dtype() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        try {
          value = dtype_name(parse_dtype(value));
          return {};
        } catch (const Error& e) {
          return cli_text(e.marked_what());
        }
      },
      "fp32|bf16|fp16", "dtype");
}

RuntimeOptions runtime_options(const std::string& device, const std::string& dtype, int threads, bool image, bool text) {
  RuntimeOptions r;
  r.device = device;
  r.dtype = parse_dtype(dtype);
  r.threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  r.load_image = image;
  r.load_text = text;
  r.warmup = image;
  return r;
}

void print_summary(const nlohmann::json& summary) {
  std::cout << summary.dump() << std::endl;
}

}  // namespace clipzs::cli
