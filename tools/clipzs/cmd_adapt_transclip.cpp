// `clipzs adapt transclip`: TransCLIP's zero-shot transduction over an image store (adapt_transclip;
// docs/methods/transclip.md).
#include <memory>

#include "clipzs/util/files.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/methods/transclip.hpp"
#include "command.hpp"
#include "options.hpp"

namespace clipzs::cli {

namespace {

struct TransCLIPCli {
  TransCLIPAdaptParams params;
  int threads = 0;
  bool overwrite = false;
};

void register_adapt_transclip(CLI::App* adapt, Action& action) {
  auto cli = std::make_shared<TransCLIPCli>();
  TransCLIPAdaptParams& p = cli->params;
  TransCLIPOptions& o = p.options;
  CLI::App* sub = adapt->add_subcommand("transclip", "TransCLIP: transductive GMM over the unlabeled test images (Zanella et al., NeurIPS 2024)");
  sub->add_option("--images", p.images, "Image embedding store of the test images: all of them, unlabeled (clipzs embed images)")->required();
  sub->add_option("--text", p.text, "Class embedding store (clipzs embed texts): the zero-shot classifier")->required();
  sub->add_option("--out", p.out, "State folder to write")->required();
  sub->add_flag("--overwrite", cli->overwrite, "Replace an existing state folder (one holding state.json)");
  sub->add_option("--logit-scale", p.logit_scale, "Scale of the zero-shot softmax (default: the bundle's own; 100 for OpenAI's CLIP)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--iters", o.iterations, "Outer iterations (means and variance updates)")->capture_default_str();
  sub->add_option("--z-iters", o.z_iterations, "Assignment updates per outer iteration")->capture_default_str();
  sub->add_option("--neighbours", o.neighbours, "Neighbours per image in the affinity graph")->capture_default_str();
  sub->add_option("--most-confident", o.most_confident, "Images per class that initialise its mean")->capture_default_str();
  sub->add_option("--lambda", o.lambda, "Weight of the zero-shot prediction in the assignment (its exponent)")->capture_default_str();
  sub->add_option("--top-k", p.top_k, "Classes kept per image in the state")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--labels", p.labels, "int64 .npy, one label per store row, to report accuracy (default: the store's labels)");
  add_label_rule_flag(sub, p.label_rule);
  add_threads_flag(sub, cli->threads);
  sub->callback([&action, cli] {
    action = [cli] {
      TransCLIPAdaptParams& p = cli->params;
      begin_adapt(p.out, cli->overwrite, cli->threads);
      p.options.cancel = &interrupt_flag();
      p.options.progress = make_progress("transclip", "iterations", false);
      p.provenance = {{"cli", effective_options()}};
      const TransCLIPAdaptResult r = adapt_transclip(p);
      finish_progress();
      print_summary({{"command", "adapt transclip"}, {"out", p.out}, {"n", r.state["n"]}, {"classes", r.state["classes"]},
                     {"metrics", r.state["metrics"]}, {"seconds", r.state["seconds"]}});
    };
  });
}

const AdaptCommand kRegistered("transclip", register_adapt_transclip);

}  // namespace

}  // namespace clipzs::cli
