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
  CLI::Validator check(
      [parse](std::string& value) -> std::string {
        try {
          parse(value);
          return {};
        } catch (const Error& e) {
          return cli_text(e.marked_what()) + (e.hint().empty() ? "" : " (" + cli_text(e.marked_hint()) + ")");
        } catch (const std::exception& e) {
          return e.what();
        }
      },
      "", "");
  CLI::Option* option = sub->add_option_function<std::string>(
      flag, [&target, parse](const std::string& value) { target = parse(value); }, help);
  option->check(check);
  if (!default_text.empty()) option->default_str(default_text);
  return option;
}

}  // namespace clipzs::cli
