// propel::mpi: the gradient reducer over MPI ranks, the failure agreement, and fit across ranks.
#include "propel/mpi.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <vector>

#include "propel/error.h"
#include "propel/optim.h"

namespace propel::mpi {
namespace {

// MPI counts are int: large arrays go in pieces.
constexpr int64_t kPiece = int64_t{1} << 30;

void Bcast(float* p, int64_t n, int root, MPI_Comm comm) {
  for (int64_t i = 0; i < n; i += kPiece) {
    MPI_Bcast(p + i, static_cast<int>(std::min(kPiece, n - i)), MPI_FLOAT, root, comm);
  }
}

struct ReducerState {
  MPI_Comm comm;
  bool deterministic;
  int rank = 0;
  int size = 1;
  int64_t calls = 0;
  // This rank's slice of every rank's sums, rank after rank; the slices' sizes and offsets.
  std::vector<float> gathered;
  std::vector<const float*> ptrs;
  std::vector<int> counts, displs, recv_counts, recv_displs;
  std::vector<int64_t> bounds;  // the reducer's even slices
};

std::shared_ptr<ReducerState> NewState(MPI_Comm comm, const Options& o) {
  auto s = std::make_shared<ReducerState>();
  s->comm = comm;
  s->deterministic = o.deterministic;
  MPI_Comm_rank(comm, &s->rank);
  MPI_Comm_size(comm, &s->size);
  return s;
}

// The start of every reduction: a rank that failed before it says so here (agree), then the
// total rows.
int64_t Begin(ReducerState& s, int64_t rows) {
  ++s.calls;
  agree(s.comm, true);
  int64_t total = 0;
  MPI_Allreduce(&rows, &total, 1, MPI_INT64_T, MPI_SUM, s.comm);
  return total;
}

// MPI's int counts and displacements of the slices in `bounds` (ranks + 1 offsets).
void Slices(ReducerState& s, const int64_t* bounds) {
  s.counts.resize(static_cast<size_t>(s.size));
  s.displs.resize(static_cast<size_t>(s.size));
  for (int r = 0; r < s.size; ++r) {
    if (bounds[r + 1] > INT_MAX) {
      throw Error(ErrorCode::kUnsupported,
                  "propel::mpi: more than 2^31 - 1 parameters for the slice-wise reduction; use "
                  "make_reducer with Options::deterministic = false");
    }
    s.counts[static_cast<size_t>(r)] = static_cast<int>(bounds[r + 1] - bounds[r]);
    s.displs[static_cast<size_t>(r)] = static_cast<int>(bounds[r]);
  }
}

// sums[bounds[rank], bounds[rank + 1]) := the sum over the ranks of that slice: every rank's part
// of it sent here (all-to-all) and added in rank order by the shard reduction's tree, or
// MPI_Reduce_scatter in the library's order.
void ReduceSlice(ReducerState& s, float* sums, const int64_t* bounds) {
  const int p = s.size;
  Slices(s, bounds);
  const int mine = s.counts[static_cast<size_t>(s.rank)];
  float* own = sums + bounds[s.rank];
  if (!s.deterministic) {
    s.gathered.resize(static_cast<size_t>(mine));
    MPI_Reduce_scatter(sums, s.gathered.data(), s.counts.data(), MPI_FLOAT, MPI_SUM, s.comm);
    std::copy(s.gathered.begin(), s.gathered.end(), own);
    return;
  }
  s.gathered.resize(static_cast<size_t>(mine) * static_cast<size_t>(p));
  s.recv_counts.assign(static_cast<size_t>(p), mine);
  s.recv_displs.resize(static_cast<size_t>(p));
  for (int r = 0; r < p; ++r) s.recv_displs[static_cast<size_t>(r)] = r * mine;
  MPI_Alltoallv(sums, s.counts.data(), s.displs.data(), MPI_FLOAT, s.gathered.data(),
                s.recv_counts.data(), s.recv_displs.data(), MPI_FLOAT, s.comm);
  s.ptrs.resize(static_cast<size_t>(p));
  for (int r = 0; r < p; ++r)
    s.ptrs[static_cast<size_t>(r)] = s.gathered.data() + static_cast<int64_t>(r) * mine;
  reduce_sum(p, s.ptrs.data(), mine, 1.0f, own);
}

// Every rank's slice of `values` to every rank, in place.
void AllGather(ReducerState& s, void* values, const int64_t* bounds, MPI_Datatype type) {
  if (s.size == 1) return;
  Slices(s, bounds);
  MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, values, s.counts.data(), s.displs.data(), type,
                 s.comm);
}

GradientReducer ReducerOf(const std::shared_ptr<ReducerState>& state) {
  return [state](float* sums, int64_t count, int64_t rows) -> int64_t {
    ReducerState& s = *state;
    const int64_t total = Begin(s, rows);
    if (s.size == 1) return total;
    if (!s.deterministic) {
      for (int64_t i = 0; i < count; i += kPiece) {
        MPI_Allreduce(MPI_IN_PLACE, sums + i, static_cast<int>(std::min(kPiece, count - i)),
                      MPI_FLOAT, MPI_SUM, s.comm);
      }
      return total;
    }
    // Rank r reduces slice r, then the reduced slices go back to every rank: the traffic of one
    // allreduce, each rank adding 1 / ranks of the sums.
    s.bounds.resize(static_cast<size_t>(s.size) + 1);
    for (int r = 0; r <= s.size; ++r) s.bounds[static_cast<size_t>(r)] = count * r / s.size;
    ReduceSlice(s, sums, s.bounds.data());
    AllGather(s, sums, s.bounds.data(), MPI_FLOAT);
    return total;
  };
}

GradientExchange ExchangeOf(const std::shared_ptr<ReducerState>& state) {
  GradientExchange e;
  e.rank = state->rank;
  e.ranks = state->size;
  e.reduce_scatter = [state](float* sums, int64_t rows, const int64_t* bounds) -> int64_t {
    ReducerState& s = *state;
    const int64_t total = Begin(s, rows);
    if (s.size > 1) ReduceSlice(s, sums, bounds);
    return total;
  };
  e.all_gather = [state](float* values, const int64_t* bounds) {
    AllGather(*state, values, bounds, MPI_FLOAT);
  };
  e.all_gather_doubles = [state](double* values, const int64_t* bounds) {
    AllGather(*state, values, bounds, MPI_DOUBLE);
  };
  return e;
}

}  // namespace

void agree(MPI_Comm comm, bool ok, const std::string& message) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const int mine = ok ? INT_MAX : rank;
  int first = INT_MAX;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == INT_MAX) return;
  int len = rank == first ? static_cast<int>(message.size()) : 0;
  MPI_Bcast(&len, 1, MPI_INT, first, comm);
  std::string text = rank == first ? message : std::string(static_cast<size_t>(len), '\0');
  MPI_Bcast(text.data(), len, MPI_CHAR, first, comm);
  throw Error(ErrorCode::kIo, "rank " + std::to_string(first) + ": " + text);
}

void broadcast_parameters(Model& model, MPI_Comm comm) {
  const int64_t n = model.parameter_count();
  int64_t n0 = n;
  MPI_Bcast(&n0, 1, MPI_INT64_T, 0, comm);
  agree(comm, n0 == n,
        "propel::mpi::broadcast_parameters: this rank's model has " + std::to_string(n) +
            " parameters, rank 0's " + std::to_string(n0));
  Bcast(model.parameters(), n, 0, comm);
}

GradientReducer make_reducer(MPI_Comm comm, const Options& options) {
  return ReducerOf(NewState(comm, options));
}

GradientExchange make_exchange(MPI_Comm comm, const Options& options) {
  return ExchangeOf(NewState(comm, options));
}

FitResult fit(Trainer& trainer, const DataView& train, const DataView* validation,
              FitOptions options, MPI_Comm comm, const Options& mpi_options) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  broadcast_parameters(trainer.model(), comm);
  const auto state = NewState(comm, mpi_options);
  auto remove = [&] {
    if (mpi_options.split_update) {
      trainer.set_gradient_exchange({});
    } else {
      trainer.set_gradient_reducer({});
    }
  };
  if (mpi_options.split_update) {
    trainer.set_gradient_exchange(ExchangeOf(state));
  } else {
    trainer.set_gradient_reducer(ReducerOf(state));
  }
  options.rank = rank;
  options.ranks = size;
  const int64_t steps_before = trainer.steps();
  try {
    FitResult r = propel::fit(trainer, train, validation, options);
    trainer.gather_optimizer_state();  // every rank holds the whole state again (checkpoints)
    remove();
    return r;
  } catch (const Error& e) {
    remove();
    // Failed before this step's reducer (bad options or data, a non-finite loss): the other
    // ranks wait in it; tell them (this throws the agreed error here too).
    if (state->calls == trainer.steps() - steps_before) agree(comm, false, e.what());
    throw;
  }
}

}  // namespace propel::mpi
