// Checkpoints: a model (description and parameters) and, optionally, its trainer's optimizer
// state and counters, in a versioned, checksummed binary file (docs/checkpoints.md has the
// layout).
//
// Saving writes a temporary file next to the target, flushes it to the disk and renames it over
// the target: a crash or a full disk in the middle leaves the previous checkpoint intact.
// Loading validates everything (magic, version, byte order, sizes, the model description, the
// checksum) before it changes anything in memory; any problem throws propel::Error (kIo) naming
// the file and the byte offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "propel/model.h"
#include "propel/train.h"

namespace propel {

// Saves the model; with a trainer, also its optimizer configuration and state, its update count
// and `epochs_done`, so that training can resume bit-exactly (propel::fit with start_epoch).
void save_checkpoint(const std::string& path, const Model& model, const Trainer* trainer = nullptr,
                     int64_t epochs_done = 0);

// The bytes save_checkpoint writes (for a checkpoint kept in memory: pickling, a database).
std::string checkpoint_bytes(const Model& model, const Trainer* trainer = nullptr,
                             int64_t epochs_done = 0);

// A new model from a checkpoint (the optimizer part, if any, is checked and ignored), with the
// precision it was saved with.
Model load_model(const std::string& path);

// What a checkpoint says about training.
struct CheckpointInfo {
  // The precision the model was trained in (Model::precision when saved; fp32 for files of
  // format version 1).
  Precision precision = Precision::kFp32;
  // Whether the model was trained in portable mode (Model::portable when saved; false for files
  // before format version 4).
  bool portable = false;
  // A binary model's source classes (Model::binary_classes; none in files before version 3).
  std::optional<BinaryClasses> binary_classes;
  bool has_optimizer = false;
  OptimizerConfig optimizer;
  int64_t steps = 0;
  int64_t epochs_done = 0;
};

// Reads the header and the optimizer configuration without loading the parameters into a model.
CheckpointInfo read_checkpoint_info(const std::string& path);

// Restores the parameters into `model` and, when the file has them, the optimizer state and the
// update count into `trainer` (may be null). Without a trainer the model takes the file's
// precision and portable mode; with one it keeps the trainer's. The model (and the trainer's
// optimizer kind) must match the file; on any error nothing is changed.
CheckpointInfo load_checkpoint(const std::string& path, Model& model, Trainer* trainer = nullptr);

// The same on bytes in memory (`name` stands for the file in messages): checkpoint_bytes'
// output, for tests and fuzzing.
Model parse_checkpoint_model(std::string_view bytes, const std::string& name);
CheckpointInfo load_checkpoint_bytes(std::string_view bytes, const std::string& name, Model& model,
                                     Trainer* trainer = nullptr);

}  // namespace propel
