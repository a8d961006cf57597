// How the CLI spells the library's parameter and call names (clipzs/util/error.hpp: param(), call()).
// A parameter is the flag of the same name ("batch_size" -> "--batch-size") unless listed below; a call
// is the subcommand of the same words ("embed_texts" -> "clipzs embed texts") unless listed below.
#include <string>
#include <string_view>

#include "command.hpp"

namespace clipzs::cli {
namespace {

struct Spelling {
  std::string_view name;
  std::string_view cli;
};

constexpr Spelling kParams[] = {
    {"augment_views", "--augment"},
};

constexpr Spelling kCalls[] = {
    {"build_faiss_index", "clipzs index build"},
    {"verify_store", "clipzs verify"},
    {"write_eval_report", "clipzs eval report"},
};

std::string with(std::string_view name, char from, char to) {
  std::string out(name);
  for (char& c : out)
    if (c == from) c = to;
  return out;
}

}  // namespace

std::string cli_name(std::string_view name, bool is_call) {
  if (is_call) {
    for (const Spelling& s : kCalls)
      if (s.name == name) return std::string(s.cli);
    return "clipzs " + with(name, '_', ' ');
  }
  for (const Spelling& s : kParams)
    if (s.name == name) return std::string(s.cli);
  return "--" + with(name, '_', '-');
}

std::string cli_text(std::string_view marked) { return render_names(marked, cli_name); }

}  // namespace clipzs::cli
