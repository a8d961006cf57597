// Lists the images an `embed images` run reads, in a deterministic order.
//
// Accepted inputs:
//  - a folder: searched recursively for image files (by extension, case-insensitive: jpg jpeg png bmp
//    webp tif tiff gif ppm pgm pbm); sorted by path (byte order). If every image lies in a first-level
//    subfolder, the subfolder name is the label (ImageFolder layout); otherwise labels are empty.
//  - a CSV file (.csv): a header row with a `path` column (or `filepath`/`image`) and optionally a
//    `label` column (or `class`); RFC 4180 quoting. Relative paths are taken relative to the CSV's folder.
//  - any other file: one path per line (blank lines and lines starting with '#' skipped); relative
//    paths are relative to the list file's folder. A tab on a line separates path and label.
// Failure modes: a missing input, a CSV without a path column, or an empty listing throw Error(kInput)
// naming the file (and row for CSVs).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace clipzs {

struct ImageInput {
  ImageInput() = default;
  ImageInput(std::string path_, std::string label_ = {}) : path(std::move(path_)), label(std::move(label_)) {}
  std::string path;   // as it will be opened (for an archive member: the archive)
  std::string label;  // may be empty
  // An archive member (a WebDataset .tar shard): the image is the `size` bytes at byte `offset` of
  // `path`, named `member` inside it. size == 0 means `path` is the image file itself.
  std::string member;
  uint64_t offset = 0;
  uint64_t size = 0;
  bool in_archive() const noexcept { return size > 0; }
  // "path" or "path:member", for messages and rows.jsonl.
  std::string display_name() const { return in_archive() ? path + ":" + member : path; }
};

// The bytes of an archive member (throws Error(kInput) naming the archive and member when it cannot be read).
std::vector<uint8_t> read_archive_member(const ImageInput& input);

std::vector<ImageInput> list_image_inputs(const std::string& input);

// The image file extensions (those of the image format table, src/image/formats.hpp), used wherever a
// file or archive member is taken for an image by its name (folder listings, WebDataset shards): jpg
// jpeg png bmp webp tif tiff gif ppm pgm pbm.
// `ext` may carry its leading dot; case does not matter.
bool is_image_extension(std::string ext);
// The list as shown to users: ".jpg/.jpeg/.png/..."
std::string image_extensions_text();

// sha256 over the listing (paths, archive members and labels), used to recognise the same run when resuming.
std::string listing_fingerprint(const std::vector<ImageInput>& inputs);

// Splits one CSV record (RFC 4180: quotes, doubled quotes); returns false on an unterminated quote.
bool split_csv_line(const std::string& line, std::vector<std::string>& fields);

}  // namespace clipzs
