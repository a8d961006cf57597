#include "options.hpp"

#include <thread>

#include "command.hpp"

namespace clipzs::cli {

void add_runtime_flags(CLI::App* sub, RuntimeFlags& flags) {
  sub->add_option("--device", flags.device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", flags.dtype, "Model precision: fp32, bf16 (CPU/GPU) or fp16 (GPU); aliases float32, bfloat16, float16")
      ->capture_default_str()
      ->transform(canonical_dtype());
  add_threads_flag(sub, flags.threads);
}

RuntimeOptions runtime_options(const RuntimeFlags& flags, bool image, bool text) {
  return runtime_options(flags.device, flags.dtype, flags.threads, image, text);
}

void add_threads_flag(CLI::App* sub, int& threads) {
  sub->add_option("--threads", threads, "LibTorch threads (0: all cores)")->capture_default_str();
}

void add_label_rule_flag(CLI::App* sub, LabelRule& rule) {
  add_parsed_option<LabelRule>(sub, "--label-rule", rule, parse_label_rule,
                               "How store labels map to classes: auto, name, index, sorted", label_rule_name(rule));
}

void add_progress_flag(CLI::App* sub, bool& no_progress) {
  sub->add_flag("--no-progress", no_progress, "No progress line on stderr");
}

void add_error_policy_flag(CLI::App* sub, ErrorPolicy& policy, const std::string& help) {
  add_parsed_option<ErrorPolicy>(sub, "--on-error", policy, parse_error_policy, help,
                                 policy == ErrorPolicy::kFail ? "fail" : "record");
}

void add_exif_flag(CLI::App* sub, bool& apply, const std::string& help) {
  add_parsed_option<bool>(
      sub, "--exif", apply,
      [](const std::string& value) {
        if (value != "ignore" && value != "apply") throw Error(ErrorKind::kUsage, "--exif must be ignore or apply");
        return value == "apply";
      },
      help, apply ? "apply" : "ignore");
}

void add_shard_flag(CLI::App* sub, ShardFlag& shard, const std::string& help) {
  add_parsed_option<ShardFlag>(
      sub, "--shard", shard,
      [](const std::string& value) {
        ShardFlag s;
        parse_shard(value, s.index, s.count);
        return s;
      },
      help, "");
}

}  // namespace clipzs::cli
