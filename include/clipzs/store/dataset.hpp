// Labelled datasets for evaluation: CoOp split files, and matching row labels to a class list.
//
// Label matching (resolve_labels), in the order tried by LabelRule::kAuto:
//  1. name:   every label equals a class name, compared after lower-casing and '_' -> ' '
//             (so ImageFolder folders like "ankle_boot" match "ankle boot");
//  2. index:  every label is an integer in [0, C) (CoOp splits, numeric CSV labels);
//  3. sorted: the distinct labels, sorted, are taken as classes 0..C-1 in order: torchvision's
//             ImageFolder convention, which is how ImageNet's synset folders (n01440764, ...) line up
//             with CLIP_benchmark's class list. Needs exactly C distinct labels.
// Failure modes: Error(kInput) naming the first offending row (path and label) when a label matches
// no class, a row has no label, or the number of distinct labels differs from the class count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clipzs/store/inputs.hpp"

namespace clipzs {

enum class LabelRule { kAuto, kName, kIndex, kSorted };
LabelRule parse_label_rule(const std::string& name);  // auto|name|index|sorted
const char* label_rule_name(LabelRule rule) noexcept;

struct ResolvedLabels {
  std::vector<int64_t> ids;  // per row; -1 for rows with `missing_ok` and no label
  LabelRule rule = LabelRule::kAuto;
  std::vector<std::string> warnings;
};

// `paths` is only used to name rows in messages. With missing_ok, empty labels give -1 instead of an error.
ResolvedLabels resolve_labels(const std::vector<std::string>& labels, const std::vector<std::string>& paths,
                              const std::vector<std::string>& classnames, LabelRule rule, bool missing_ok = false);

// Class names that occur more than once (ImageNet's CLIP list has "missile" and "sunglasses" twice).
std::vector<std::string> duplicate_classnames(const std::vector<std::string>& classnames);

// A CoOp split file (split_zhou_*.json: {"train"|"val"|"test": [[relative path, label, classname], ...]}).
// Paths are joined to image_root; labels are the integer label as text.
std::vector<ImageInput> list_coop_split(const std::string& split_file, const std::string& split,
                                        const std::string& image_root);
// The class names of a CoOp split, ordered by label (taken from all of its splits).
std::vector<std::string> coop_classnames(const std::string& split_file);

}  // namespace clipzs
