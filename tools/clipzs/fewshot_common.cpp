#include "fewshot_common.hpp"

#include "clipzs/store/dataset.hpp"
#include "clipzs/util/files.hpp"
#include "clipzs/model/model.hpp"

namespace clipzs::cli {

void add_fewshot_options(CLI::App* sub, FewShotCliOptions& o) {
  sub->add_option("--train", o.train, "Image embedding store to draw the K shots from (clipzs embed images)")->required();
  sub->add_option("--val", o.val, "Image embedding store for model selection (may hold the --train images: drawn shots are left out)")->required();
  sub->add_option("--text", o.text, "Class embedding store (clipzs embed texts): class names and text proxies")->required();
  sub->add_option("--shots", o.shots, "Images per class (K)")->required();
  sub->add_option("--seed", o.seed, "Seed of the draw (and of the batch order where a method has one)")->capture_default_str();
  sub->add_option("--val-shots", o.val_shots, "Validation images per class (default min(K, 4); 0: all)");
  add_label_rule_flag(sub, o.label_rule);
  sub->add_option("--out", o.out, "State folder to write")->required();
  sub->add_flag("--overwrite", o.overwrite, "Replace an existing state folder (one holding state.json)");
  add_threads_flag(sub, o.threads);
}

void run_fewshot_adapt(const std::string& command, const FewShotCliOptions& o, const FewShotTrainer& trainer) {
  if (o.shots < 1) throw Error(ErrorKind::kUsage, "--shots must be at least 1");
  if (o.val_shots < -1) throw Error(ErrorKind::kUsage, "--val-shots must be 0 (all) or positive");
  begin_adapt(o.out, o.overwrite, o.threads);
  FewShotAdaptParams p;
  p.train = o.train;
  p.val = o.val;
  p.text = o.text;
  p.out = o.out;
  p.label_rule = o.label_rule;
  p.label_rule_text = label_rule_name(o.label_rule);
  p.shots = o.shots;
  p.val_shots = o.val_shots;
  p.seed = o.seed;
  p.provenance = {{"cli", effective_options()}};
  p.after_training = finish_progress;
  const FewShotAdaptResult r = adapt_fewshot(p, trainer);
  print_summary({{"command", command}, {"out", o.out}, {"shots", o.shots}, {"seed", o.seed}, {"classes", r.classes},
                 {"train_rows", r.train_rows}, {"val_rows", r.val_rows}, {"parameters", r.state.parameters},
                 {"metrics", r.metrics}, {"seconds", r.seconds}});
}

}  // namespace clipzs::cli
