// `clipzs adapt linear-probe | tip-adapter | tip-adapter-f`: few-shot baselines over cached embeddings
// (include/clipzs/methods/baselines.hpp; the shared loading and state writing in fewshot_common.hpp).
#include <memory>

#include "clipzs/methods/baselines.hpp"
#include "command.hpp"
#include "fewshot_common.hpp"

namespace clipzs::cli {

namespace {

struct TipCli {
  FewShotCliOptions common;
  TipAdapterOptions options;
  double alpha_max = 3.0, beta_max = 7.0;  // the reference's ImageNet search_scale [7, 3], search_step [200, 20]
  int alpha_steps = 20, beta_steps = 200;
  float logit_scale = 0.0f;  // --logit-scale; 0: the bundle's own
};

void register_tip(CLI::App* adapt, Action& action, const std::shared_ptr<TipCli>& cli, bool finetune) {
  TipCli& t = *cli;
  CLI::App* sub = adapt->add_subcommand(
      finetune ? "tip-adapter-f" : "tip-adapter",
      finetune ? "Tip-Adapter-F: the cache keys fine-tuned on the shots (Zhang et al., ECCV 2022)"
               : "Tip-Adapter: a training-free cache of the shots (Zhang et al., ECCV 2022)");
  add_fewshot_options(sub, t.common);
  t.options.finetune = finetune;
  sub->add_option("--logit-scale", t.logit_scale,
                  "Scale of the text term (default: the bundle's own, exp(logit_scale): 100 for OpenAI's CLIP)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--alpha-max", t.alpha_max, "alpha searched over alpha-steps values from 0.1 up to this (excluded)")->capture_default_str();
  sub->add_option("--alpha-steps", t.alpha_steps, "Number of alpha values searched")->capture_default_str();
  sub->add_option("--beta-max", t.beta_max, "beta searched over beta-steps values from 0.1 up to this (excluded)")->capture_default_str();
  sub->add_option("--beta-steps", t.beta_steps, "Number of beta values searched")->capture_default_str();
  if (finetune) {
    sub->add_option("--epochs", t.options.epochs, "Passes over the training rows")->capture_default_str();
    sub->add_option("--batch-size", t.options.batch_size, "Rows per step")->capture_default_str();
    sub->add_option("--lr", t.options.lr, "AdamW learning rate (cosine annealed to 0)")->capture_default_str();
    sub->add_option("--eps", t.options.eps, "AdamW epsilon")->capture_default_str();
    sub->add_option("--weight-decay", t.options.weight_decay, "AdamW weight decay")->capture_default_str();
    sub->add_option("--init-alpha", t.options.init_alpha, "alpha while training")->capture_default_str();
    sub->add_option("--init-beta", t.options.init_beta, "beta while training")->capture_default_str();
  }
  sub->callback([&action, cli, finetune] {
    action = [cli, finetune] {
      TipCli& t = *cli;
      if (t.alpha_steps < 1 || t.beta_steps < 1) throw Error(ErrorKind::kUsage, "--alpha-steps and --beta-steps must be at least 1");
      t.options.alpha_grid.clear();
      t.options.beta_grid.clear();
      for (int i = 0; i < t.alpha_steps; ++i) t.options.alpha_grid.push_back(i * (t.alpha_max - 0.1) / t.alpha_steps + 0.1);
      for (int i = 0; i < t.beta_steps; ++i) t.options.beta_grid.push_back(i * (t.beta_max - 0.1) / t.beta_steps + 0.1);
      t.options.seed = t.common.seed;
      if (finetune) t.options.progress = make_progress("tip-adapter-f", "steps", false);
      run_fewshot_adapt(finetune ? "adapt tip-adapter-f" : "adapt tip-adapter", t.common,
                        [&t](const FewShotInputs& in) {
                          t.options.logit_scale = resolve_logit_scale(t.logit_scale, in.text_manifest, t.common.text);
                          return train_tip_adapter(in.train, in.val, in.classes, t.options);
                        });
    };
  });
}

struct LinearProbeCli {
  FewShotCliOptions common;
  LinearProbeOptions options;
};

void register_adapt_fewshot(CLI::App* adapt, Action& action) {
  auto lp_cli = std::make_shared<LinearProbeCli>();
  FewShotCliOptions& lp_common = lp_cli->common;
  LinearProbeOptions& lp = lp_cli->options;
  CLI::App* sub = adapt->add_subcommand("linear-probe", "Linear probe: multinomial logistic regression on the shots");
  add_fewshot_options(sub, lp_common);
  sub->add_option("--l2", lp.l2_grid, "L2 strengths searched on validation, comma-separated (default 1e-6 .. 1, half decades)")
      ->delimiter(',');
  sub->add_option("--max-iters", lp.max_iters, "L-BFGS iterations per strength")->capture_default_str();
  sub->callback([&action, lp_cli] {
    action = [lp_cli] {
      FewShotCliOptions& lp_common = lp_cli->common;
      LinearProbeOptions& lp = lp_cli->options;
      lp.seed = lp_common.seed;
      lp.progress = make_progress("linear-probe", "L2 strengths", false);
      run_fewshot_adapt("adapt linear-probe", lp_common,
                        [&lp](const FewShotInputs& in) { return train_linear_probe(in.train, in.val, in.classes, lp); });
    };
  });

  register_tip(adapt, action, std::make_shared<TipCli>(), false);
  register_tip(adapt, action, std::make_shared<TipCli>(), true);
}

const AdaptCommand kRegistered("linear-probe", register_adapt_fewshot);

}  // namespace

}  // namespace clipzs::cli
