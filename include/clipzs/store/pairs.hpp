// Lists the image-caption pairs a retrieval bank is made of (`clipzs embed pairs`), in a deterministic
// order.
//
// Accepted inputs:
//  - CSV (.csv) or TSV (.tsv): a header row naming an image column (`image`, `path`, `filepath`, `file`
//    or `img`) and a caption column (`caption`, `text`, `title`, `txt`); CSV fields use RFC 4180
//    quoting; TSV splits on tabs. Relative image paths are taken relative to the table's folder. An
//    optional `key`/`id` column names rows (default: the row number, from 0).
//  - JSON Lines (.jsonl): one object per line with the same keys (first key found wins).
//  - WebDataset shards as img2dataset writes them: a .tar file, or a folder whose *.tar files are read
//    in byte order of their names. Members are grouped by key (the member path up to the first '.'
//    of its file name); a sample's image is its jpg/jpeg/png/webp/bmp member, its caption the .txt
//    member (UTF-8, surrounding whitespace trimmed), and a .json member is kept as metadata. Images are
//    not extracted: the pair records the member's offset and size inside the shard.
// Samples without an image or without a caption (img2dataset keeps failed downloads out of the tar,
// but other writers may not) are skipped and counted; the first few are named in `warnings`.
//
// Failure modes: a missing input, a table without an image or caption column, a malformed JSON line or
// a damaged tar header throw Error(kInput) naming the file and row/line/offset; no pairs at all is an
// Error(kInput) too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clipzs/store/inputs.hpp"

namespace clipzs {

struct PairInput {
  ImageInput image;      // a file, or a member of a .tar shard (image.in_archive())
  std::string caption;   // as given (not cleaned; the tokenizer cleans)
  std::string key;       // the row's key: table `key` column / row number, or the WebDataset key
  std::string metadata;  // the sample's .json member text (WebDataset), else empty
};

struct PairListing {
  std::vector<PairInput> pairs;
  int64_t skipped = 0;                // samples left out (no image or no caption)
  std::vector<std::string> warnings;  // the first few of them, named
};

PairListing list_pair_inputs(const std::string& input);

// sha256 over the pairs (image source, caption, key), used to recognise the same run when resuming.
std::string pairs_fingerprint(const std::vector<PairInput>& pairs);

}  // namespace clipzs
