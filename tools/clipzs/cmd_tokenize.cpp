// `clipzs tokenize`: texts on stdin (one per line, or JSONL with "text") -> one JSON line of ids each.
#include <iostream>

#include "clipzs/store/bundle.hpp"
#include "clipzs/text/tokenizer.hpp"
#include "command.hpp"

namespace clipzs::cli {

namespace {

struct TokenizeCli {
  std::string model_dir, vocab;
  int context = 77;
  bool jsonl = false;
  void run();
};

void TokenizeCli::run() {
  if (model_dir.empty() && vocab.empty()) throw Error(ErrorKind::kUsage, "give --model or --vocab");
  ClipTokenizer tokenizer = [&] {
    if (!vocab.empty()) return ClipTokenizer::from_merges_file(vocab);
    BundleInfo bundle = load_bundle_info(model_dir, false);
    if (context == 77) context = bundle.context_length;
    return load_bundle_tokenizer(bundle);
  }();
  std::string line;
  for (long line_no = 1; std::getline(std::cin, line); ++line_no) {
    std::string text = line;
    if (jsonl) {
      try {
        text = nlohmann::json::parse(line).at("text").get<std::string>();
      } catch (const nlohmann::json::exception&) {
        throw Error(ErrorKind::kInput, "stdin line " + std::to_string(line_no) + ": not a JSON object with a string \"text\"");
      }
    }
    TokenizedText t = tokenizer.encode(text, context);
    std::cout << nlohmann::json{{"text", text}, {"ids", t.ids}, {"truncated", t.truncated}}.dump(
                     -1, ' ', false, nlohmann::json::error_handler_t::replace)
              << '\n';
  }
  std::cout.flush();
}

}  // namespace

void register_tokenize(CLI::App& app, Action& action) {
  auto cli = std::make_shared<TokenizeCli>();
  CLI::App* sub = app.add_subcommand("tokenize", "Tokenize texts from stdin with CLIP's BPE");
  auto* m = sub->add_option("--model", cli->model_dir, "Model bundle folder (uses its vocabulary)");
  auto* v = sub->add_option("--vocab", cli->vocab, "CLIP merges file (bpe_simple_vocab_16e6.txt.gz)");
  m->excludes(v);
  sub->add_option("--context-length", cli->context, "Ids per row")->capture_default_str();
  sub->add_flag("--jsonl", cli->jsonl, "Input lines are JSON objects with a \"text\" field");
  sub->callback([&action, cli] {
    action = [cli] { cli->run(); };
  });
}

}  // namespace clipzs::cli
