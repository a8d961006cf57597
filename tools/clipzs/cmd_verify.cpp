// `clipzs verify STORE...`: check stores (and banks) end to end; exit 3 listing every problem.
#include <spdlog/spdlog.h>

#include "clipzs/store/store.hpp"
#include "command.hpp"

namespace clipzs::cli {

namespace {

struct VerifyCli {
  std::vector<std::string> stores;
  std::string model_dir;
  void run() const;
};

void VerifyCli::run() const {
  size_t failed = 0;
  std::string first_problem;
  nlohmann::json results = nlohmann::json::array();
  for (const auto& dir : stores) {
    StoreVerification v = verify_store(dir, model_dir);
    for (auto& note : v.notes) note = cli_text(note);
    for (auto& problem : v.problems) problem = cli_text(problem);
    for (const auto& note : v.notes) spdlog::warn("{}: {}", dir, note);
    for (const auto& problem : v.problems) spdlog::error("{}: {}", dir, problem);
    if (!v.ok()) {
      ++failed;
      if (first_problem.empty()) first_problem = v.problems.front();
    }
    results.push_back({{"store", dir}, {"kind", v.kind}, {"rows", v.rows}, {"dim", v.dim}, {"ok", v.ok()},
                       {"checked", v.checked}, {"problems", v.problems}, {"not_checked", v.notes}});
  }
  if (failed > 0)
    throw Error(ErrorKind::kInput,
                std::to_string(failed) + " of " + std::to_string(stores.size()) + " stores failed verification; first: " +
                    first_problem,
                "the lines above list every problem; re-create a damaged store with `clipzs embed` (a killed run: --resume)");
  print_summary({{"command", "verify"}, {"stores", results}});
}

}  // namespace

void register_verify(CLI::App& app, Action& action) {
  auto cli = std::make_shared<VerifyCli>();
  CLI::App* verify = app.add_subcommand("verify", "Check embedding stores or banks: manifest, hashes, shapes, rows, values, bundle");
  verify->add_option("store", cli->stores, "Store or bank folders")->required();
  verify->add_option("--model", cli->model_dir, "Bundle to check the stores against (default: the folder their manifest names)");
  verify->callback([&action, cli] {
    action = [cli] { cli->run(); };
  });
}

}  // namespace clipzs::cli
