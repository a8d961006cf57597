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

#include <string>
#include <vector>

namespace clipzs {

struct ImageInput {
  std::string path;   // as it will be opened
  std::string label;  // may be empty
};

std::vector<ImageInput> list_image_inputs(const std::string& input);

// sha256 over the listing (paths and labels), used to recognise the same run when resuming.
std::string listing_fingerprint(const std::vector<ImageInput>& inputs);

// Splits one CSV record (RFC 4180: quotes, doubled quotes); returns false on an unterminated quote.
bool split_csv_line(const std::string& line, std::vector<std::string>& fields);

}  // namespace clipzs
