// Class prompts: class names, each with the texts that describe it (templates filled with the name, or
// CuPL-style generated prompts). Read from the files CLIP_benchmark and CuPL publish; embed_texts
// (embed.hpp) turns them into class proxies.
#pragma once

#include <string>
#include <vector>

namespace clipzs {

// Class names with their prompts. Templates use "{c}" (CLIP_benchmark) or "{}" (openai/CLIP) for the name.
struct ClassPrompts {
  std::vector<std::string> classnames;
  std::vector<std::vector<std::string>> prompts;  // per class
};

// classes: CLIP_benchmark JSON ({dataset: [names]}, `dataset` picks the key; a single key needs none)
//          or a text file with one class name per line.
// templates: CLIP_benchmark JSON ({dataset: [templates]}) or a text file with one template per line;
//          empty means the single template "{c}"... unless `cupl_prompts` is given instead.
// cupl_prompts: CuPL-style JSON {classname: [prompts]}, used for the classes it names.
// Throws Error(kInput) naming the file and key/line on malformed input.
ClassPrompts load_class_prompts(const std::string& classes_file, const std::string& templates_file,
                                const std::string& dataset, const std::string& cupl_prompts = {});
// The same from class names already in hand (e.g. a CoOp split's).
ClassPrompts build_class_prompts(std::vector<std::string> classnames, const std::string& templates_file,
                                 const std::string& dataset, const std::string& cupl_prompts = {});

}  // namespace clipzs
