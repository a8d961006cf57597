// A retrieval bank for X-MoRe: image-caption pairs, both sides embedded by one model bundle
// (`clipzs embed pairs`).
//
//   BANK/images/    image store (store.hpp); row i is pair i (rows.jsonl: path, member, key, status)
//   BANK/captions/  caption store; row i is pair i (rows.jsonl: caption, key, status)
//   BANK/bank.json  written LAST: {"kind": "bank", "rows", "dim", "bundle": {name, sha256}, "input",
//                   "pairs_sha256", "caption_template", "skipped_pairs", "created", "clipzs_version"}
//   BANK/index-*.faiss  optional approximate indexes (`clipzs index build`)
// A folder without bank.json is not a complete bank (a run is still going or was interrupted: rerun
// `clipzs embed pairs` with --resume).
//
// Embeddings stay in their stored dtype (float16 by default), so a bank costs 2 x rows x dim x 2 bytes
// of memory. Failure modes: Error(kInput) naming the folder or file when it is incomplete, damaged, or
// its two stores disagree with bank.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clipzs/methods/classify.hpp"
#include "clipzs/util/types.hpp"
#include "clipzs/store/npy.hpp"
#include "clipzs/store/store.hpp"

namespace clipzs {

struct Bank {
  std::string dir;
  nlohmann::json info;                 // bank.json
  int64_t rows = 0;
  int64_t dim = 0;
  NpyArray image_embeddings;           // rows x dim, "<f2" or "<f4"
  NpyArray caption_embeddings;         // rows x dim, "<f2" or "<f4"
  std::vector<std::string> captions;   // rows
  std::vector<std::string> keys;       // rows
  std::vector<bool> usable;            // the pair's image was read (its embedding is not zeros)

  BankView image_view() const;
  // The caption embeddings of `ids` (bank rows), as float32 rows in that order.
  Matrix caption_rows(const std::vector<int64_t>& ids) const;
  std::string bundle_sha256() const;
};

Bank open_bank(const std::string& dir, bool verify = true);

// The shard banks of one `embed pairs --shard i/N` run (all N, any order) as the bank the unsharded run
// would have written in `out_dir`: both stores as merge_stores (store.hpp) makes them, then bank.json
// (equal to the unsharded run's apart from "created"). Refuses, naming the folder, a shard of another
// pair list, bundle or caption template, and a missing, repeated, incomplete or damaged shard. Returns
// the merged bank.json.
nlohmann::json merge_banks(const std::vector<std::string>& shard_dirs, const std::string& out_dir, const OpenMode& mode);

}  // namespace clipzs
