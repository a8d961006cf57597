// `clipzs adapt relation`: few-shot relation transition with open-vocabulary anchors
// (docs/methods/relation.md).
#include <spdlog/spdlog.h>

#include <memory>

#include "clipzs/store/bundle.hpp"
#include "clipzs/methods/relation.hpp"
#include "command.hpp"
#include "fewshot_common.hpp"

namespace clipzs::cli {

namespace {

struct RelationCli {
  FewShotCliOptions common;
  RelationOptions options;
  std::string model, anchors_file, wordnet_dir = "/usr/share/wordnet";
  int anchor_count = 512;
  bool fixed_anchors = false;
  float logit_scale = 0.0f;  // 0: the bundle's own
};

void register_adapt_relation(CLI::App* adapt, Action& action) {
  auto cli = std::make_shared<RelationCli>();
  RelationOptions& r = cli->options;
  CLI::App* sub = adapt->add_subcommand("relation", "Few-shot relation transition through open-vocabulary anchors (after Yan et al. 2024)");
  add_fewshot_options(sub, cli->common);
  sub->add_option("--model", cli->model, "The bundle the stores were made with (its text encoder embeds the anchors)")->required();
  sub->add_option("--anchors", cli->anchors_file, "Anchor words, one per line (default: WordNet nouns)");
  sub->add_option("--anchors-count", cli->anchor_count, "Number of anchors M")->capture_default_str();
  sub->add_option("--wordnet-dir", cli->wordnet_dir, "WordNet dictionary folder (Debian wordnet-base)")->capture_default_str();
  sub->add_option("--prompt", r.prompt, "Anchor prompt; {} is the anchor")->capture_default_str();
  sub->add_option("--logit-scale", cli->logit_scale,
                  "Scale of the zero-shot term (default: --model's own, exp(logit_scale): 100 for OpenAI's CLIP)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--heads", r.heads, "Attention heads (must divide the embedding width)")->capture_default_str();
  sub->add_option("--tau-r", r.tau_r, "Anchor-class relation temperature")->capture_default_str();
  sub->add_option("--tau-a", r.tau_a, "Image-anchor attention temperature")->capture_default_str();
  sub->add_option("--epochs", r.epochs, "Training epochs")->capture_default_str();
  sub->add_option("--batch-size", r.batch_size, "Training batch")->capture_default_str();
  sub->add_option("--lr", r.lr, "AdamW learning rate of the projections and gamma")->capture_default_str();
  sub->add_option("--anchor-lr", r.anchor_lr, "AdamW learning rate of the anchor token embeddings")->capture_default_str();
  sub->add_flag("--fixed-anchors", cli->fixed_anchors, "Keep the anchors' word embeddings (no text-encoder backward)");
  sub->add_flag("--training-free", r.training_free, "No training: identity projections, word anchors, gamma picked on --val");
  sub->callback([&action, cli] {
    action = [cli] {
      FewShotCliOptions& o = cli->common;
      RelationOptions& r = cli->options;
      const std::string& model = cli->model;
      const std::string& anchors_file = cli->anchors_file;
      const std::string& wordnet_dir = cli->wordnet_dir;
      const int anchor_count = cli->anchor_count;
      BundleInfo bundle = load_bundle_info(model);
      r.learn_anchors = !cli->fixed_anchors;
      r.logit_scale = cli->logit_scale > 0 ? cli->logit_scale : bundle.logit_scale;
      r.seed = o.seed;
      r.cancel = &interrupt_flag();
      const int epochs = r.epochs;
      r.on_epoch = [epochs](int epoch, double loss, double val_acc) {
        spdlog::info("epoch {}/{}: loss {:.4f}, validation accuracy {:.4f}", epoch, epochs, loss, val_acc);
      };
      run_fewshot_adapt("adapt relation", o, [&](const FewShotInputs& in) {
        // The anchors go through this bundle's text encoder, so it must be the one that made the stores.
        if (in.bundle_sha256 != bundle.bundle_sha256)
          throw Error(ErrorKind::kInput, "the class store '" + o.text + "' was not made by --model " + model,
                      "pass the bundle the stores were embedded with");
        // The class names are what the anchor list leaves out.
        std::vector<std::string> anchors = load_anchor_words(anchors_file, wordnet_dir, anchor_count, in.classnames);
        spdlog::info("relation transition: {} anchors{}, {} training rows, {} validation rows", anchors.size(),
                     anchors_file.empty() ? " (WordNet nouns)" : "", in.train.features.rows, in.val.features.rows);
        r.progress = make_progress("relation", "steps", false);
        FewShotState state = train_relation(bundle, anchors, in.train, in.val, in.classes, r);
        finish_progress();
        state.info["bundle_sha256_of_anchor_encoder"] = bundle.bundle_sha256;
        return state;
      });
    };
  });
}

const AdaptCommand kRegistered("relation", register_adapt_relation);

}  // namespace

}  // namespace clipzs::cli
