// Option groups more than one subcommand takes. Each is registered by one function here, so that every
// command spells, documents and parses it alike; a value is parsed to its type while the command line is
// read (a bad value is a usage error, exit 2, before any work), and kept as typed.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "clipzs/store/dataset.hpp"
#include "clipzs/pipeline/embed.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/store/store.hpp"
#include "command.hpp"

namespace clipzs::cli {

// An option whose text `parse` turns into a T (parse throws clipzs::Error on a bad value; its message is
// the usage error). `default_text` is what --help shows and what results record when it is not given.
template <class T>
CLI::Option* add_parsed_option(CLI::App* sub, const std::string& flag, T& target, std::function<T(const std::string&)> parse,
                               const std::string& help, const std::string& default_text);

// --device, --dtype, --threads: where and how a model runs.
struct RuntimeFlags {
  std::string device = "cpu";
  std::string dtype = "fp32";  // canonical name (fp32, bf16, fp16)
  int threads = 0;             // 0: every core
};
void add_runtime_flags(CLI::App* sub, RuntimeFlags& flags);
// The model's runtime options; loads the chosen towers, warming the image tower up when it is loaded.
RuntimeOptions runtime_options(const RuntimeFlags& flags, bool image, bool text);

// --threads alone (commands that run no model).
void add_threads_flag(CLI::App* sub, int& threads);
// --label-rule: how store labels map to classes.
void add_label_rule_flag(CLI::App* sub, LabelRule& rule);
// --no-progress.
void add_progress_flag(CLI::App* sub, bool& no_progress);
// --on-error record|fail.
void add_error_policy_flag(CLI::App* sub, ErrorPolicy& policy, const std::string& help);
// --exif ignore|apply, into DecodeOptions::apply_exif_orientation.
void add_exif_flag(CLI::App* sub, bool& apply, const std::string& help);
// --shard i/N.
struct ShardFlag {
  int index = 0;
  int count = 1;
};
void add_shard_flag(CLI::App* sub, ShardFlag& shard, const std::string& help);

// ---------------------------------------------------------------------------------------------------

template <class T>
CLI::Option* add_parsed_option(CLI::App* sub, const std::string& flag, T& target, std::function<T(const std::string&)> parse,
                               const std::string& help, const std::string& default_text) {
  // CLI11 puts "FLAG: " before the message; a message that starts with the flag itself drops it.
  auto message = [flag](const std::exception& e) {
    const Error* error = dynamic_cast<const Error*>(&e);
    std::string text = error ? cli_text(error->marked_what()) : std::string(e.what());
    if (text.rfind(flag + " ", 0) == 0) text = text.substr(flag.size() + 1);
    if (error && !error->hint().empty()) text += " (" + cli_text(error->marked_hint()) + ")";
    return text;
  };
  CLI::Validator check(
      [parse, message](std::string& value) -> std::string {
        try {
          parse(value);
          return {};
        } catch (const std::exception& e) {
          return message(e);
        }
      },
      "", "");
  CLI::Option* option = sub->add_option_function<std::string>(
      flag,
      [&target, parse, message, flag](const std::string& value) {
        try {
          target = parse(value);
        } catch (const std::exception& e) {  // the validator has refused it already; never leave parse() with it
          throw CLI::ValidationError(flag, message(e));
        }
      },
      help);
  option->check(check);
  if (!default_text.empty()) option->default_str(default_text);
  return option;
}

}  // namespace clipzs::cli
