// clipzs: zero-shot and few-shot image classification with CLIP. See README.md and docs/cli.md.
#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "clipzs/util/log.hpp"
#include "command.hpp"

int main(int argc, char** argv) {
  using namespace clipzs::cli;
  // Logs go to stderr (spdlog's default logger writes to stdout, which is for results).
  spdlog::set_default_logger(make_stderr_logger());
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_level(spdlog::level::info);
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug for more

  CLI::App app{"clipzs: zero-shot image classification with CLIP encoders (TorchScript bundles)"};
  app.set_version_flag("--version", std::string("clipzs ") + CLIPZS_VERSION);
  app.require_subcommand(1);
  bool verbose = false, quiet = false;
  double progress_every = 30;
  app.add_flag("-v,--verbose", verbose, "Debug logging on stderr");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on stderr (no progress)");
  app.add_option("--progress-every", progress_every,
                 "Seconds between progress log lines when stderr is not a terminal (CI logs)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  // Options from a file: CLI11's TOML/INI reader, one [section] per subcommand path ([adapt.inmap],
  // [embed.images]); a flag on the command line wins over the file. configs/methods/ holds the papers'
  // settings. May also follow the subcommand (fallthrough): `clipzs adapt inmap --config FILE ...`.
  app.set_config("--config", "", "Read options from a TOML or INI file, one [section] per subcommand "
                                 "(e.g. [adapt.inmap]); command-line flags win (see configs/methods/)");
  // A key that names no option is an error (a typo would otherwise be ignored and the default used).
  app.allow_config_extras(CLI::config_extras_mode::error);
  // These options may also follow the subcommand: `clipzs embed images ... --quiet`.
  app.fallthrough();
  Action action;
  register_embed(app, action);
  register_info(app, action);
  register_tokenize(app, action);
  register_preprocess(app, action);
  register_infer(app, action);
  register_eval(app, action);
  register_adapt(app, action);
  register_index(app, action);
  register_verify(app, action);
  register_merge(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help or the parse error
    return code == 0 ? 0 : kExitUsage;
  }
  record_effective_options(app);
  if (verbose) spdlog::set_level(spdlog::level::debug);
  if (quiet) spdlog::set_level(spdlog::level::warn);
  // The library logs through its own sink; forward it to spdlog at spdlog's level.
  const auto spd_level = spdlog::get_level();
  const clipzs::LogLevel lib_level = spd_level <= spdlog::level::debug ? clipzs::LogLevel::kDebug
                                     : spd_level <= spdlog::level::info ? clipzs::LogLevel::kInfo
                                     : spd_level <= spdlog::level::warn ? clipzs::LogLevel::kWarn
                                                                        : clipzs::LogLevel::kError;
  clipzs::set_log_sink(
      [](clipzs::LogLevel level, const std::string& marked) {
        const std::string message = clipzs::cli::cli_text(marked);
        switch (level) {
          case clipzs::LogLevel::kDebug: spdlog::debug("{}", message); break;
          case clipzs::LogLevel::kInfo: spdlog::info("{}", message); break;
          case clipzs::LogLevel::kWarn: spdlog::warn("{}", message); break;
          default: spdlog::error("{}", message); break;
        }
      },
      lib_level);
  configure_progress(quiet, progress_every);
  install_signal_handlers();
  const int code = run_guarded(action);
  // Every output is complete and flushed by now; LibTorch's static destructors take ~0.2 s, a window in
  // which a finished run could still be killed and reported as failed. Skip them.
  spdlog::shutdown();
  std::fflush(nullptr);
  std::_Exit(code);
}
