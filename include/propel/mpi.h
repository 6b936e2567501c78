// Data-parallel training across processes with MPI: library propel::propel_mpi (built when
// CMake finds MPI), used by `propel train --mpi` under mpirun. docs/embedding.md.
//
// Every rank holds the whole model; rank 0's parameters are broadcast at the start; each rank
// computes the gradient sums of its slice of every global batch, the sums are added over the
// ranks (GradientReducer, propel/train.h), and every rank applies the same update. The run is
// the one-process run with batch ranks x batch: bitwise in deterministic mode when each rank's
// batch is a power-of-two number of whole shards (e.g. batch = StepOptions::shard_rows), to
// rounding otherwise.
//
// Errors: a rank that fails (bad input, a non-finite loss) tells the others through the next
// collective, and every rank throws propel::Error naming the failing rank and its message —
// no rank is left waiting.
#pragma once

// The C interface of MPI only (not the deprecated C++ bindings, which need another library).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <memory>
#include <string>

#include "propel/train.h"

namespace propel::mpi {

struct Options {
  // true: rank r receives every rank's part of parameter slice r (MPI_Alltoallv), adds them in
  // rank order with the shard reduction's tree, and the reduced slices are gathered back to all
  // (MPI_Allgatherv): the result does not depend on the MPI library's algorithm and equals the
  // one-process run. false: MPI_Allreduce (the library's order).
  bool deterministic = true;
  // fit: each rank updates only its slice of the parameters and the slices are exchanged
  // (GradientExchange): 1/ranks of the update work per rank, the same bits. false: every rank
  // applies the whole update (GradientReducer).
  bool split_update = true;
};

// Ranks agree on a local outcome: returns when `ok` on every rank; else throws propel::Error on
// every rank with the message of the lowest failing rank ("rank 1: ..."). Collective.
void agree(MPI_Comm comm, bool ok, const std::string& message = "");

// Rank 0's parameters to every rank (shapes must match: checked). Collective.
void broadcast_parameters(Model& model, MPI_Comm comm);

// The reducer summing gradient sums and row counts over `comm`. Collective per call: every rank
// must step the same number of times. Its first collective tells whether a rank failed (see
// fit below).
GradientReducer make_reducer(MPI_Comm comm, const Options& options = {});

// The GradientExchange over `comm` (reduce-scatter in slices, deterministic as above, or
// MPI_Reduce_scatter; all-gathers with MPI_Allgatherv). Collective per call.
GradientExchange make_exchange(MPI_Comm comm, const Options& options = {});

// propel::fit across the ranks of `comm`: broadcasts rank 0's parameters, installs the exchange
// (or the reducer) on the trainer and removes it at the end (gathering the optimizer state, so
// every rank can save a complete checkpoint), sets FitOptions::rank/ranks, and turns a failure
// on one rank into an Error on all of them. `options.batch` is the per-rank batch. Every rank
// passes the same data set, validation set and options (the order is shared).
FitResult fit(Trainer& trainer, const DataView& train, const DataView* validation,
              FitOptions options, MPI_Comm comm, const Options& mpi_options = {});

}  // namespace propel::mpi
