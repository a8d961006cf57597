// What the few-shot `adapt` subcommands share (linear-probe, tip-adapter, tip-adapter-f, relation):
// reading the train / val / class stores, drawing the K shots (include/clipzs/methods/fewshot.hpp for the
// protocol), and writing the state with its provenance. A method supplies only its trainer:
//
//   auto o = std::make_shared<FewShotCliOptions>();  // one per subcommand (CLI11 binds to it)
//   add_fewshot_options(sub, *o);
//   sub->callback([&action, o] { action = [o] {
//     run_fewshot_adapt("adapt relation", *o, [](const FewShotInputs& in) {
//       return train_relation(bundle, anchors, in.train, in.val, in.classes, relation_options); });
//   }; });
//
// Stores: --train and --val are image stores (`clipzs embed images`), --text a class store (`clipzs embed
// texts`), all made by one bundle (else Error(kInput), exit 3). Labels come from rows.jsonl, matched to
// the class store's names by --label-rule. Rows that share rows.jsonl's "source" are views of one image
// (one group); without "source" every row is its own image. Rows whose status is not "ok" are left out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "clipzs/methods/fewshot.hpp"
#include "command.hpp"
#include "options.hpp"

namespace clipzs::cli {

struct FewShotCliOptions {
  std::string train, val, text, out;
  LabelRule label_rule = LabelRule::kAuto;
  int shots = 0;
  int val_shots = -1;  // images per class drawn from --val; -1: min(shots, 4); 0: all of them
  uint64_t seed = 1;
  bool overwrite = false;
  int threads = 0;
};

// --train --val --text --shots --seed --val-shots --label-rule --out --overwrite --threads.
void add_fewshot_options(CLI::App* sub, FewShotCliOptions& o);

// A whole few-shot subcommand: refuses an existing --out without --overwrite (Error(kOutput), before any
// work), loads the inputs, trains, measures train / validation accuracy, writes the state (provenance
// merged into state.info) and prints the summary line. `command` names the subcommand ("adapt tip-adapter").
void run_fewshot_adapt(const std::string& command, const FewShotCliOptions& o, const FewShotTrainer& trainer);

}  // namespace clipzs::cli
