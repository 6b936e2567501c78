// propel::Trainer across processes: the step with a GradientReducer (every process updates every
// parameter from the summed gradients) and with a GradientExchange (each process updates its
// slice of whole chunks and the slices are gathered), and their configuration.
#include <algorithm>
#include <cmath>
#include <limits>

#include "propel/train.h"
#include "src/runtime/check.h"
#include "src/runtime/executor.h"
#include "src/runtime/partition.h"
#include "src/train/reduction.h"
#include "src/train/trainer_impl.h"

namespace propel {

using detail::kChunk;

void Trainer::Impl::ChunkSquares(const float* g, int64_t c0, int64_t c1) {
  const detail::ScopedExecution exec(options.executor, threads);
  const int64_t tasks = std::min<int64_t>(threads, c1 - c0);
  auto squares = [&](int64_t t) {
    const detail::Range range = detail::Balance211(c1 - c0, tasks, t);
    for (int64_t c = c0 + range.begin; c < c0 + range.end; ++c) {
      const int64_t j0 = c * kChunk, n = std::min(kChunk, count - j0);
      chunk_sumsq[static_cast<size_t>(c)] = detail::SumOfSquares(*kern.ew, n, g + j0);
    }
  };
  if (tasks > 0) detail::ParallelFor(tasks, static_cast<int>(tasks), squares);
}

StepResult Trainer::Impl::ReducerStep(const char* where, const DataView& batch) {
  StepResult r;
  float* g = model->gradients();
  if (batch.rows == 0) {  // nothing from this process this step
    std::fill(g, g + count, 0.0f);
    if (NeedNorm()) r.grad_norm = 0.0;
  } else {
    r = Gradients(where, batch, false);  // sums over the batch's rows
  }
  const int64_t total = reducer(g, count, r.rows);
  detail::Check(total >= 1, where, "step ", steps + 1, ": the gradient reducer returned ", total,
                " rows (at least 1 expected); the parameters are left as they were");
  // Every process checked its own sums; their total can still overflow. The chunks' sums of
  // squares tell, and give the norm of the reduced sums.
  const int64_t chunks = detail::ChunkCount(count);
  ChunkSquares(g, 0, chunks);
  double sumsq = 0.0;
  for (int64_t c = 0; c < chunks; ++c) sumsq += chunk_sumsq[static_cast<size_t>(c)];
  if (!std::isfinite(sumsq)) {
    const int64_t bad = detail::FirstNonFinite(g, count);
    detail::Fail(ErrorCode::kNumerical, where, "step ", steps + 1,
                 ": the reduced gradient is not finite ([", bad, "] = ", g[bad],
                 "); the parameters are left as they were before this step");
  }
  const double inv_rows = 1.0 / static_cast<double>(total);
  if (!std::isnan(r.grad_norm)) r.grad_norm = std::sqrt(sumsq) * inv_rows;
  Update(r.grad_norm, inv_rows);
  return r;
}

StepResult Trainer::Impl::ExchangeStep(const char* where, const DataView& batch) {
  StepResult r;
  float* g = model->gradients();
  if (batch.rows == 0) {  // nothing from this process this step
    std::fill(g, g + count, 0.0f);
  } else {
    r = Gradients(where, batch, false);  // sums over the batch's rows
  }
  const size_t rank = static_cast<size_t>(exchange.rank);
  const int64_t total = exchange.reduce_scatter(g, r.rows, slice_bounds.data());
  detail::Check(total >= 1, where, "step ", steps + 1, ": the gradient exchange returned ", total,
                " rows (at least 1 expected); the parameters are left as they were");
  // Sums of squares of this slice's chunks (NaN for a chunk holding NaN/Inf), gathered: every
  // process sees the whole gradient's norm, added in chunk order as one process adds it, and
  // whether the gradient is finite.
  const int64_t c0 = slice_chunks[rank], c1 = slice_chunks[rank + 1];
  ChunkSquares(g, c0, c1);
  exchange.all_gather_doubles(chunk_sumsq.data(), slice_chunks.data());
  const int64_t chunks = detail::ChunkCount(count);
  double sumsq = 0.0;
  for (int64_t c = 0; c < chunks; ++c) sumsq += chunk_sumsq[static_cast<size_t>(c)];
  if (!std::isfinite(sumsq)) {
    int64_t c = 0;
    while (c < chunks && std::isfinite(chunk_sumsq[static_cast<size_t>(c)])) ++c;
    detail::Fail(ErrorCode::kNumerical, where, "step ", steps + 1,
                 ": the reduced gradient is not finite (in parameters [", c * kChunk, ", ",
                 std::min(count, (c + 1) * kChunk),
                 ")); the parameters are left as they were before this step");
  }
  const double inv_rows = 1.0 / static_cast<double>(total);
  r.grad_norm = NeedNorm() ? std::sqrt(sumsq) * inv_rows : std::numeric_limits<double>::quiet_NaN();
  UpdateSlice(r.grad_norm, inv_rows, c0, c1);
  exchange.all_gather(model->parameters(), slice_bounds.data());
  return r;
}

void Trainer::set_gradient_reducer(GradientReducer reducer) {
  detail::Check(!reducer || !impl_->exchange.reduce_scatter,
                "propel::Trainer::set_gradient_reducer",
                "a gradient exchange is set; remove it first");
  impl_->reducer = std::move(reducer);
}

void Trainer::set_gradient_exchange(GradientExchange exchange) {
  const char* where = "propel::Trainer::set_gradient_exchange";
  Impl& t = *impl_;
  if (!exchange.reduce_scatter) {
    t.exchange = GradientExchange{};
    return;
  }
  detail::Check(!t.reducer, where, "a gradient reducer is set; remove it first");
  detail::Check(
      static_cast<bool>(exchange.all_gather) && static_cast<bool>(exchange.all_gather_doubles),
      where, "all_gather and all_gather_doubles are required");
  detail::Check(exchange.ranks >= 1 && exchange.rank >= 0 && exchange.rank < exchange.ranks, where,
                "rank ", exchange.rank, " of ", exchange.ranks, " is not a valid rank");
  // Slices of whole chunks, so that each chunk's sum of squares is taken as one process would.
  const int64_t chunks = detail::ChunkCount(t.count);
  t.slice_chunks.resize(static_cast<size_t>(exchange.ranks) + 1);
  t.slice_bounds.resize(static_cast<size_t>(exchange.ranks) + 1);
  for (int r = 0; r <= exchange.ranks; ++r) {
    t.slice_chunks[static_cast<size_t>(r)] = chunks * r / exchange.ranks;
    t.slice_bounds[static_cast<size_t>(r)] =
        std::min(t.count, t.slice_chunks[static_cast<size_t>(r)] * kChunk);
  }
  t.exchange = std::move(exchange);
}

void Trainer::gather_optimizer_state() {
  Impl& t = *impl_;
  if (!t.exchange.reduce_scatter) return;
  for (int64_t a = 0; a * t.count < state_size(); ++a)
    t.exchange.all_gather(t.state.data() + a * t.count, t.slice_bounds.data());
}

}  // namespace propel
