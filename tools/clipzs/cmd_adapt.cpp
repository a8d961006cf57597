// `clipzs adapt`: the parent of every `adapt <method>` subcommand; each method's file registers itself.
#include <algorithm>
#include <utility>
#include <vector>

#include "clipzs/method.hpp"
#include "command.hpp"

namespace clipzs::cli {

namespace {

std::vector<std::pair<std::string, AdaptRegistrar>>& adapt_commands() {
  static std::vector<std::pair<std::string, AdaptRegistrar>> commands;  // filled before main() runs
  return commands;
}

}  // namespace

AdaptCommand::AdaptCommand(const char* method, AdaptRegistrar registrar) { adapt_commands().emplace_back(method, registrar); }

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
