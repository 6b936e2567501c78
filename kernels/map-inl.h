// The array loops every element-wise kernel family is built on: y = f(x) and dx = f(x, dy) over
// n floats (Map1, Map2) with four independent vectors per iteration, ragged tails through
// zero-padded buffers, and non-temporal stores with software prefetch for arrays too large for
// the caches; and the tail loads and stores of a row. No kernel here has its own accuracy: each
// result is f applied lane by lane.

#if defined(PROPEL_KERNELS_MAP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_MAP_INL_H_
#undef PROPEL_KERNELS_MAP_INL_H_
#else
#define PROPEL_KERNELS_MAP_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
// Floats in the largest vector of any compiled target (stack buffers for ragged tails).
constexpr size_t kMaxLanesF = HWY_MAX_BYTES / sizeof(float);

// Arrays at least this long (per array) are written with non-temporal stores: they do not fit
// in the caches anyway, and streaming saves the read-for-ownership of every output line.
constexpr int64_t kStreamMin = int64_t{4} << 20;
// How far ahead (in floats) the streaming loops prefetch their inputs into L1, and four times
// that into L2: the compute of the transcendental functions fills the out-of-order window, so
// the hardware prefetcher alone does not keep enough lines in flight.
constexpr int64_t kPrefetchAhead = 1024;

// Elements to process before y + i is vector-aligned (for the streaming stores).
HWY_INLINE int64_t HeadToAlign(const float* y, int64_t N) {
  const uintptr_t mis = reinterpret_cast<uintptr_t>(y) % (static_cast<uintptr_t>(N) * 4);
  return mis == 0 ? 0 : (static_cast<int64_t>(N) * 4 - static_cast<int64_t>(mis)) / 4;
}

// One ragged block of up to one vector through zero-padded buffers.
template <class F>
HWY_INLINE void Map1Partial(int64_t count, const float* x, float* y, const F& f) {
  const DF d;
  HWY_ALIGN float buf[kMaxLanesF] = {};
  memcpy(buf, x, static_cast<size_t>(count) * sizeof(float));
  hn::Store(f(hn::Load(d, buf)), d, buf);
  memcpy(y, buf, static_cast<size_t>(count) * sizeof(float));
}

template <class F>
HWY_INLINE void Map2Partial(int64_t count, const float* x, const float* dy, float* dx, const F& f) {
  const DF d;
  HWY_ALIGN float bx[kMaxLanesF] = {};
  HWY_ALIGN float bd[kMaxLanesF] = {};
  memcpy(bx, x, static_cast<size_t>(count) * sizeof(float));
  memcpy(bd, dy, static_cast<size_t>(count) * sizeof(float));
  hn::Store(f(hn::Load(d, bx), hn::Load(d, bd)), d, bx);
  memcpy(dx, bx, static_cast<size_t>(count) * sizeof(float));
}

// The main loops: four independent vectors per iteration (the transcendental functions are long
// dependency chains, and the instruction scheduler, -fschedule-insns for this file, interleaves
// them), then single vectors, then the ragged tail through zero-padded buffers (no partial loads
// or stores, which some targets emulate with full-width accesses). kStream: aligned
// non-temporal stores (y + i aligned on entry).
// One vector of output: a non-temporal store (p vector-aligned) or a plain unaligned one.
template <bool kStream>
HWY_INLINE void StoreOut(DF d, VF v, float* p) {
  if constexpr (kStream) {
    hn::Stream(v, d, p);
  } else {
    hn::StoreU(v, d, p);
  }
}

// The streaming loops' software prefetch of `floats` inputs from p: kPrefetchAhead ahead into L1,
// four times that into L2.
HWY_INLINE void PrefetchAhead(const float* p, int64_t floats) {
  for (int64_t k = 0; k < floats; k += 16) {
    hwy::Prefetch(p + kPrefetchAhead + k);
    __builtin_prefetch(p + 4 * kPrefetchAhead + k, 0, 2);
  }
}

template <bool kStream, class F>
HWY_INLINE int64_t Map1Loop(int64_t i, int64_t n, const float* x, float* y, const F& f) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  for (; i + 4 * N <= n; i += 4 * N) {
    if constexpr (kStream) PrefetchAhead(x + i, 4 * N);
    const VF v0 = hn::LoadU(d, x + i);
    const VF v1 = hn::LoadU(d, x + i + N);
    const VF v2 = hn::LoadU(d, x + i + 2 * N);
    const VF v3 = hn::LoadU(d, x + i + 3 * N);
    StoreOut<kStream>(d, f(v0), y + i);
    StoreOut<kStream>(d, f(v1), y + i + N);
    StoreOut<kStream>(d, f(v2), y + i + 2 * N);
    StoreOut<kStream>(d, f(v3), y + i + 3 * N);
  }
  for (; i + N <= n; i += N) StoreOut<kStream>(d, f(hn::LoadU(d, x + i)), y + i);
  return i;
}

template <bool kStream, class F>
HWY_INLINE int64_t Map2Loop(int64_t i, int64_t n, const float* x, const float* dy, float* dx,
                            const F& f) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  for (; i + 4 * N <= n; i += 4 * N) {
    if constexpr (kStream) {
      PrefetchAhead(x + i, 4 * N);
      PrefetchAhead(dy + i, 4 * N);
    }
    const VF a0 = hn::LoadU(d, x + i);
    const VF a1 = hn::LoadU(d, x + i + N);
    const VF a2 = hn::LoadU(d, x + i + 2 * N);
    const VF a3 = hn::LoadU(d, x + i + 3 * N);
    const VF b0 = hn::LoadU(d, dy + i);
    const VF b1 = hn::LoadU(d, dy + i + N);
    const VF b2 = hn::LoadU(d, dy + i + 2 * N);
    const VF b3 = hn::LoadU(d, dy + i + 3 * N);
    StoreOut<kStream>(d, f(a0, b0), dx + i);
    StoreOut<kStream>(d, f(a1, b1), dx + i + N);
    StoreOut<kStream>(d, f(a2, b2), dx + i + 2 * N);
    StoreOut<kStream>(d, f(a3, b3), dx + i + 3 * N);
  }
  for (; i + N <= n; i += N)
    StoreOut<kStream>(d, f(hn::LoadU(d, x + i), hn::LoadU(d, dy + i)), dx + i);
  return i;
}

// y[i] = f(x[i]) for i < n (y may be x).
template <class F>
HWY_INLINE void Map1(int64_t n, const float* x, float* y, const F& f) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  int64_t i = 0;
  if (n >= kStreamMin && N > 1) {
    i = HeadToAlign(y, N);
    if (i > 0) Map1Partial(i, x, y, f);
    i = Map1Loop<true>(i, n, x, y, f);
    hwy::FlushStream();
  } else {
    i = Map1Loop<false>(0, n, x, y, f);
  }
  if (i < n) Map1Partial(n - i, x + i, y + i, f);
}

// dx[i] = f(x[i], dy[i]) for i < n (dx may be x or dy).
template <class F>
HWY_INLINE void Map2(int64_t n, const float* x, const float* dy, float* dx, const F& f) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  int64_t i = 0;
  if (n >= kStreamMin && N > 1) {
    i = HeadToAlign(dx, N);
    if (i > 0) Map2Partial(i, x, dy, dx, f);
    i = Map2Loop<true>(i, n, x, dy, dx, f);
    hwy::FlushStream();
  } else {
    i = Map2Loop<false>(0, n, x, dy, dx, f);
  }
  if (i < n) Map2Partial(n - i, x + i, dy + i, dx + i, f);
}

// Loads the ragged tail x[0, rest) of a row into a full vector padded with `pad`.
HWY_INLINE VF LoadTail(DF d, const float* x, size_t rest, float pad) {
  HWY_ALIGN float buf[kMaxLanesF];
  for (size_t k = 0; k < kMaxLanesF; ++k) buf[k] = pad;
  memcpy(buf, x, rest * sizeof(float));
  return hn::Load(d, buf);
}

HWY_INLINE void StoreTail(DF d, VF v, size_t rest, float* y) {
  HWY_ALIGN float buf[kMaxLanesF];
  hn::Store(v, d, buf);
  memcpy(y, buf, rest * sizeof(float));
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
