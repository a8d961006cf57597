// `clipzs adapt`: the parent of every `adapt <method>` subcommand; each method's file registers itself.
#include <algorithm>
#include <utility>
#include <vector>

#include <thread>

#include "clipzs/util/files.hpp"
#include "clipzs/methods/method.hpp"
#include "clipzs/model/model.hpp"
#include "command.hpp"

namespace clipzs::cli {

namespace {

std::vector<std::pair<std::string, AdaptRegistrar>>& adapt_commands() {
  static std::vector<std::pair<std::string, AdaptRegistrar>> commands;  // filled before main() runs
  return commands;
}

}  // namespace

AdaptCommand::AdaptCommand(const char* method, AdaptRegistrar registrar) { adapt_commands().emplace_back(method, registrar); }

void begin_adapt(const std::string& out, bool overwrite, int threads) {
  if (output_taken(out) && !overwrite)
    throw Error(ErrorKind::kOutput, "'" + out + "' already exists", "pass --overwrite to replace it, or choose another --out");
  set_torch_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

void register_adapt(CLI::App& app, Action& action) {
  CLI::App* adapt = app.add_subcommand("adapt", "Adapt a classifier: to unlabeled target images, or to K labelled shots per class");
  adapt->require_subcommand(1);
  auto commands = adapt_commands();
  std::stable_sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) {
    return static_cast<unsigned>(method_rank(a.first)) < static_cast<unsigned>(method_rank(b.first));  // unknown (-1) last
  });
  for (const auto& [method, registrar] : commands) registrar(adapt, action);
}

}  // namespace clipzs::cli
