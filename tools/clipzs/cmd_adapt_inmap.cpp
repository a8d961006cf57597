// `clipzs adapt inmap`: learn InMaP vision proxies from unlabeled image embeddings (adapt_inmap).
#include <memory>

#include "clipzs/methods/inmap.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/model/model.hpp"
#include "command.hpp"
#include "options.hpp"

namespace clipzs::cli {

namespace {

struct InMaPCli {
  InMaPAdaptParams params;
  bool no_sinkhorn = false, no_ablation = false, overwrite = false;
  int threads = 0;
};

void register_adapt_inmap(CLI::App* adapt, Action& action) {
  auto cli = std::make_shared<InMaPCli>();
  InMaPAdaptParams& p = cli->params;
  InMaPOptions& o = p.options;
  CLI::App* sub = adapt->add_subcommand("inmap", "InMaP: vision proxies from unlabeled images (Qian et al., NeurIPS 2023)");
  sub->add_option("--images", p.images, "Image embedding store (clipzs embed images)");
  sub->add_option("--text", p.text, "Class embedding store (clipzs embed texts): the text proxies");
  sub->add_option("--features", p.features, "Instead of --images: n x d float32 .npy of L2-normalised features");
  sub->add_option("--text-proxies", p.text_proxies, "Instead of --text: d x C float32 .npy of text proxies");
  sub->add_option("--labels", p.labels, "int64 .npy of labels to report accuracy: one per feature row, or per store row (default for stores: rows.jsonl)");
  add_label_rule_flag(sub, p.label_rule);
  sub->add_option("--out", p.out, "State folder to write")->required();
  sub->add_flag("--overwrite", cli->overwrite, "Replace an existing state folder (one holding state.json)");
  sub->add_option("--tau-t", o.tau_t, "Temperature of the text pseudo labels")->capture_default_str();
  sub->add_option("--tau-i", o.tau_i, "Temperature of the vision-proxy softmax")->capture_default_str();
  sub->add_option("--alpha", o.alpha, "Pseudo labels above this become one-hot")->capture_default_str();
  sub->add_option("--gamma", o.gamma, "Sinkhorn class prior exponent (0: uniform)")->capture_default_str();
  sub->add_option("--lr", o.lr, "Initial step size")->capture_default_str();
  sub->add_option("--iters", o.iters_proxy, "Gradient steps")->capture_default_str();
  sub->add_option("--sinkhorn-iters", o.iters_sinkhorn, "Sinkhorn iterations")->capture_default_str();
  sub->add_flag("--no-sinkhorn", cli->no_sinkhorn, "Softmax pseudo labels without Sinkhorn refinement");
  sub->add_flag("--no-ablation", cli->no_ablation, "Skip the second run without Sinkhorn that the official script reports");
  sub->add_flag("--fast", o.fast, "Stop once the proxies no longer move (docs/methods/inmap.md)");
  sub->add_option("--loss-every", o.loss_every, "Log the loss every k steps (0: never)")->capture_default_str();
  add_threads_flag(sub, cli->threads);
  sub->callback([&action, cli] {
    action = [cli] {
      InMaPAdaptParams& p = cli->params;
      if (p.images.empty() == p.features.empty()) throw Error(ErrorKind::kUsage, "give exactly one of --images or --features");
      if (p.text.empty() == p.text_proxies.empty()) throw Error(ErrorKind::kUsage, "give exactly one of --text or --text-proxies");
      begin_adapt(p.out, cli->overwrite, cli->threads);
      p.options.use_sinkhorn = !cli->no_sinkhorn;
      p.ablation = !cli->no_ablation;
      p.options.cancel = &interrupt_flag();
      p.options.progress = make_progress("inmap", "steps", false);
      p.provenance = {{"cli", effective_options()}};
      InMaPAdaptResult r = adapt_inmap(p);
      finish_progress();
      print_summary({{"command", "adapt inmap"}, {"out", p.out}, {"n", r.n}, {"classes", r.classes}, {"metrics", r.metrics},
                     {"seconds", r.seconds}});
    };
  });
}

const AdaptCommand kRegistered("inmap", register_adapt_inmap);

}  // namespace

}  // namespace clipzs::cli
