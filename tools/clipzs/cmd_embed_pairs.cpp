// `clipzs embed pairs`: image-caption pairs into a retrieval bank (embed_pairs; X-MoRe).
#include <spdlog/spdlog.h>

#include <memory>

#include "clipzs/store/pairs.hpp"
#include "clipzs/text/tokenizer.hpp"
#include "embed_common.hpp"

namespace clipzs::cli {
namespace {

struct EmbedPairsCli {
  EmbedFlags flags;
  EmbedPairsOptions options;
  ShardFlag shard;
  int caption_batch_size = 0;
};

}  // namespace

void register_embed_pairs(CLI::App* embed, Action& action) {
  auto cli = std::make_shared<EmbedPairsCli>();
  EmbedPairsOptions& o = cli->options;
  CLI::App* sub = embed->add_subcommand("pairs", "Embed image-caption pairs into a retrieval bank (X-MoRe)");
  add_embed_flags(sub, cli->flags);
  sub->add_option("--input", o.input, "CSV/TSV/JSONL with image and caption columns, a WebDataset .tar shard, or a folder of shards")->required();
  sub->add_option("--caption-template", o.captions.caption_template, "Text embedded for each caption; {} is the caption")->capture_default_str();
  sub->add_option("--workers", o.images.workers, "Decode/preprocess threads (0: cores left over by --threads, at least 1)");
  add_error_policy_flag(sub, o.images.on_error, "Bad image: 'record' keeps the pair out of retrieval; 'fail' stops (exit 3)");
  sub->add_option("--store-dtype", cli->flags.store_dtype, "float16 (default) or float32");
  sub->add_option("--max-pixels", o.images.decode.max_pixels, "Refuse images of more pixels than this, from their header")->capture_default_str();
  sub->add_option("--caption-batch-size", cli->caption_batch_size, "Captions per text forward (0: --batch-size when given, else 256)")
      ->check(CLI::NonNegativeNumber);
  add_shard_flag(sub, cli->shard, "Embed shard i of N of the pairs (i/N, 0-based; one bank per shard, then `clipzs merge`)");
  sub->callback([&action, cli] {
    action = [cli] {
      const EmbedFlags& f = cli->flags;
      EmbedPairsOptions options = cli->options;
      const PairListing listing = list_pair_inputs(options.input);
      for (const auto& w : listing.warnings) spdlog::warn("{}", w);
      if (listing.skipped) spdlog::warn("{} samples without an image or a caption were left out", listing.skipped);
      spdlog::info("{} image-caption pairs listed from {}", listing.pairs.size(), options.input);
      options.images.batch_size = f.batch_size > 0 ? f.batch_size : 32;
      options.images.store_dtype = parse_store_dtype(f.store_dtype.empty() ? "float16" : f.store_dtype);
      options.images.open_mode = {f.resume, f.overwrite};
      options.images.cancel = &interrupt_flag();
      options.images.shard_index = cli->shard.index;
      options.images.shard_count = cli->shard.count;
      options.captions.batch_size = cli->caption_batch_size > 0 ? cli->caption_batch_size : f.batch_size > 0 ? f.batch_size : 256;
      options.captions.store_dtype = options.images.store_dtype;
      BundleInfo bundle;
      const ClipModel model = load_embed_model(f, true, true, bundle);
      const ClipTokenizer tokenizer = load_bundle_tokenizer(bundle);
      const EmbedPairsSummary s =
          embed_pairs(model, tokenizer, listing, f.out, options, with_kill_hook(make_progress("pairs", "rows", f.no_progress)));
      finish_progress();
      if (s.images.errors)
        spdlog::warn("{} of {} images could not be read; those pairs are never retrieved (see {}/images/rows.jsonl)",
                     s.images.errors, s.rows, f.out);
      print_summary({{"command", "embed pairs"}, {"bank", s.bank}, {"rows", s.rows}, {"skipped_pairs", listing.skipped},
                     {"images", embed_summary_json("images", s.images)},
                     {"captions", embed_summary_json("captions", s.captions)}});
    };
  });
}

}  // namespace clipzs::cli
