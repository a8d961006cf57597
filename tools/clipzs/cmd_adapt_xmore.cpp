// `clipzs adapt xmore`: X-MoRe predictions for an image store, from the captions of its nearest
// images in a retrieval bank (adapt_xmore; docs/methods/xmore.md).
#include <memory>

#include "clipzs/util/files.hpp"
#include "clipzs/model/model.hpp"
#include "clipzs/methods/xmore.hpp"
#include "command.hpp"
#include "options.hpp"

namespace clipzs::cli {

namespace {

struct XMoReCli {
  XMoReAdaptParams params;
  std::string normalize = "running";
  int threads = 0;
  bool overwrite = false;
};

void register_adapt_xmore(CLI::App* adapt, Action& action) {
  auto cli = std::make_shared<XMoReCli>();
  XMoReAdaptParams& o = cli->params;
  CLI::App* sub = adapt->add_subcommand("xmore", "X-MoRe: captions of similar bank images, ensembled by confidence (Eom et al. 2023)");
  sub->add_option("--images", o.images, "Image embedding store of the test images (clipzs embed images)")->required();
  sub->add_option("--text", o.text, "Class embedding store (clipzs embed texts)")->required();
  sub->add_option("--bank", o.bank, "Retrieval bank (clipzs embed pairs) made with the same model")->required();
  sub->add_option("--out", o.out, "State folder to write")->required();
  sub->add_flag("--overwrite", cli->overwrite, "Replace an existing state folder (one holding state.json)");
  sub->add_option("--k", o.k, "Captions per image")->capture_default_str();
  sub->add_option("--neighbours", o.neighbours, "Bank images retrieved per test image")->capture_default_str();
  sub->add_option("--search", o.search, "exact (every bank row) or index (a FAISS index of the bank)")->capture_default_str();
  sub->add_option("--index", o.index, "FAISS index file for --search index (default: the bank's)");
  sub->add_option("--nprobe", o.nprobe, "IVF lists visited by --search index")->capture_default_str();
  sub->add_option("--rerank-model", o.rerank_model, "Second bundle whose image-caption similarity orders the candidates");
  sub->add_option("--normalize", cli->normalize, "Confidence means: running (seeded order, the reference) or global")->capture_default_str();
  sub->add_option("--seed", o.seed, "Order of the running means")->capture_default_str();
  sub->add_option("--logit-scale", o.logit_scale,
                  "Softmax scale s (default: the bundle's own, exp(logit_scale): 100 for OpenAI's CLIP)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--labels", o.labels, "int64 .npy, one label per store row, to report accuracy (default: the store's labels)");
  add_label_rule_flag(sub, o.label_rule);
  sub->add_option("--device", o.device, "cpu, cuda or cuda:N (retrieval and re-ranking)")->capture_default_str();
  add_threads_flag(sub, cli->threads);
  sub->callback([&action, cli] {
    action = [cli] {
      XMoReAdaptParams& p = cli->params;
      if (p.k < 1 || p.neighbours < 1) throw Error(ErrorKind::kUsage, "--k and --neighbours must be at least 1");
      if (p.search != "exact" && p.search != "index") throw Error(ErrorKind::kUsage, "--search must be exact or index");
      begin_adapt(p.out, cli->overwrite, cli->threads);
      p.normalize = parse_xmore_normalize(cli->normalize);
      p.logit_scale_from = "--logit-scale";
      p.cancel = &interrupt_flag();
      p.progress = make_progress("adapt xmore", "tiles", false);
      p.provenance = {{"cli", effective_options()}};
      XMoReAdaptResult r = adapt_xmore(p);
      finish_progress();
      print_summary({{"command", "adapt xmore"}, {"out", p.out}, {"n", r.evaluated}, {"coverage", r.state["coverage"]},
                     {"metrics", r.state["metrics"]}, {"seconds", r.state["seconds"]}});
    };
  });
}

const AdaptCommand kRegistered("xmore", register_adapt_xmore);

}  // namespace

}  // namespace clipzs::cli
