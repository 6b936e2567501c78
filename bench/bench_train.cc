// The training step (forward, loss, backward, shard reduction, update) of whole MLPs, for 1
// thread and all threads, on the TBB, OpenMP and serial executors: the suite's train cases
// (bench/suite.h, full preset) with /executor:<name> in their names, e.g.
//   train/784-1024-1024-10/batch:256/target:AVX2/threads:2/executor:omp
// Counters: samples_per_second, GFLOPS and peak_fraction (the step's GEMM FLOPs per second over
// the target's measured FMA peak times the threads). `propel compare FILE.json` tabulates them;
// bench/torch_train_step.py measures PyTorch on the same networks.
#include "bench/peer_main.h"

int main(int argc, char** argv) {
  using namespace propel::bench;
  return PeerMain(
      argc, argv, {"train"}, [] {}, [](const SuiteOptions&, const Limits&) {},
      {"tbb", "omp", "serial"});
}
