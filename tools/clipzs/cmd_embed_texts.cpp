// `clipzs embed texts`: class names x prompt templates into a class store (embed_texts).
#include <spdlog/spdlog.h>

#include <memory>

#include "clipzs/store/dataset.hpp"
#include "clipzs/text/tokenizer.hpp"
#include "embed_common.hpp"

namespace clipzs::cli {
namespace {

struct EmbedTextsCli {
  EmbedFlags flags;
  std::string classes, templates, dataset, cupl;
};

}  // namespace

void register_embed_texts(CLI::App* embed, Action& action) {
  auto cli = std::make_shared<EmbedTextsCli>();
  CLI::App* sub = embed->add_subcommand("texts", "Embed class names x prompt templates into class proxies");
  add_embed_flags(sub, cli->flags);
  sub->add_option("--classes", cli->classes, "Class names: CLIP_benchmark JSON {dataset: [...]} or one per line")->required()->check(CLI::ExistingFile);
  sub->add_option("--templates", cli->templates, "Templates with {c}: CLIP_benchmark JSON or one per line")->check(CLI::ExistingFile);
  sub->add_option("--dataset", cli->dataset, "Key to read from JSON class/template files (e.g. imagenet1k)");
  sub->add_option("--cupl", cli->cupl, "CuPL-style JSON {classname: [prompts]} (overrides templates for those classes)")->check(CLI::ExistingFile);
  sub->add_option("--store-dtype", cli->flags.store_dtype, "float32 (default) or float16");
  sub->callback([&action, cli] {
    action = [cli] {
      const EmbedFlags& f = cli->flags;
      const ClassPrompts prompts = load_class_prompts(cli->classes, cli->templates, cli->dataset, cli->cupl);
      for (const auto& dup : duplicate_classnames(prompts.classnames))
        spdlog::warn("class name '{}' appears more than once in {}; each is kept as its own row", dup, cli->classes);
      BundleInfo bundle;
      const ClipModel model = load_embed_model(f, false, true, bundle);
      const ClipTokenizer tokenizer = load_bundle_tokenizer(bundle);
      EmbedTextsOptions options;
      options.batch_size = f.batch_size > 0 ? f.batch_size : 256;
      options.store_dtype = parse_store_dtype(f.store_dtype.empty() ? "float32" : f.store_dtype);
      options.open_mode = {f.resume, f.overwrite};
      options.cancel = &interrupt_flag();
      spdlog::info("{} classes", prompts.classnames.size());
      const EmbedSummary s =
          embed_texts(model, tokenizer, prompts, f.out, options, make_progress("prompts", "prompts", f.no_progress));
      finish_progress();
      print_summary(embed_summary_json("embed texts", s));
    };
  });
}

}  // namespace clipzs::cli
