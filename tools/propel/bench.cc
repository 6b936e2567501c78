#include "tools/propel/bench.h"

#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/suite.h"
#include "propel/error.h"
#include "propel/threading.h"

extern char** environ;

namespace propel::cli {
namespace {

constexpr const char* kCallgrindOutEnv = "PROPEL_BENCH_CALLGRIND_OUT";

std::string SelfPath() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

// Runs argv (argv[0] looked up in PATH) and waits; the exit status, or -1 if it did not start.
int Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    const size_t end = p.find(':', start);
    const std::string dir =
        p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

// The same command under `valgrind --tool=callgrind`, its dumps in a temporary folder.
int RunUnderCallgrind(int argc, char** argv) {
  const std::string self = SelfPath();
  if (self.empty()) throw Error(ErrorCode::kIo, "cannot find this program's path (/proc/self/exe)");
  std::error_code tmp_ec;
  std::filesystem::path tmp = std::filesystem::temp_directory_path(tmp_ec);
  if (tmp_ec) tmp = "/tmp";  // TMPDIR names no folder
  std::string dir = (tmp / "propel-callgrind-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    throw Error(ErrorCode::kIo, "cannot create a temporary folder for callgrind's output (" + dir +
                                    "): " + std::strerror(errno));
  }
  const std::string out = dir + "/callgrind.out";
  ::setenv(kCallgrindOutEnv, out.c_str(), 1);
  std::vector<std::string> args = {"valgrind",
                                   "-q",
                                   "--tool=callgrind",
                                   "--callgrind-out-file=" + out,
                                   "--separate-threads=yes",
                                   "--dump-instr=no",
                                   "--dump-line=no",
                                   "--compress-strings=no",
                                   self};
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::fprintf(stderr, "propel bench: counting instructions with callgrind (%s)\n",
               "Valgrind runs the kernels about 50x slower, on targets up to AVX2");
  const int status = Spawn(args);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (status < 0) throw Error(ErrorCode::kIo, "could not start valgrind");
  return status;
}

std::vector<int> ParseThreads(const std::vector<std::string>& list) {
  std::vector<int> out;
  for (const std::string& s : list) {
    int t = 0;
    if (s == "all") {
      t = num_threads();
    } else {
      char* end = nullptr;
      const long v = std::strtol(s.c_str(), &end, 10);
      if (end == s.c_str() || *end != '\0' || v < 1 || v > 4096) {
        throw Error(ErrorCode::kInvalidArgument,
                    "--threads: '" + s + "' is not a thread count (a number >= 1, or all)");
      }
      t = static_cast<int>(v);
    }
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  if (out.empty()) throw Error(ErrorCode::kInvalidArgument, "--threads: no thread count given");
  return out;
}

}  // namespace

CLI::App* AddBenchCommand(CLI::App& app, BenchArgs& a) {
  CLI::App* b = app.add_subcommand(
      "bench",
      "run the benchmark suite (GEMM, element-wise, optimizer, training step) on every SIMD "
      "target and write one Google Benchmark JSON file");
  b->add_option("--out", a.out, "JSON results file")->capture_default_str();
  b->add_flag("--quick", a.quick, "smoke run for CI: few cases, one repetition (under a minute)");
  b->add_flag("--full", a.full, "every shape and size, 9 repetitions (about half an hour)");
  b->add_option("--family", a.families,
                "gemm, elementwise, optimizer, train, predict (default: all)")
      ->delimiter(',');
  b->add_option("--targets", a.targets,
                "SIMD targets to pin in turn, e.g. AVX3,AVX2 or best (default: every one this "
                "CPU supports)")
      ->delimiter(',');
  b->add_option("--threads", a.threads, "thread counts for GEMM and the training step")
      ->delimiter(',')
      ->capture_default_str();
  b->add_option("--filter", a.filter, "regular expression on benchmark names");
  b->add_option("--repetitions", a.repetitions,
                "repetitions of each benchmark (default: 1 quick, 5 default, 9 full; the U test of "
                "propel compare needs 4 or more on each side)");
  b->add_option("--min-time", a.min_time,
                "seconds each measurement runs at least (default: 0.01 quick, 0.05, 0.2 full)");
  b->add_option("--interleave", a.interleave,
                "run the repetitions of all benchmarks in random order (auto: with repetitions)")
      ->check(CLI::IsMember({"auto", "yes", "no"}))
      ->capture_default_str();
  b->add_option("--instructions", a.instructions,
                "count retired instructions per iteration instead of timing: perf "
                "(perf_event_open), callgrind (Valgrind; targets up to AVX2) or auto")
      ->expected(0, 1)
      ->default_str("auto")
      ->check(CLI::IsMember({"auto", "perf", "callgrind"}));
  b->add_flag("--list", a.list, "list the benchmarks and exit");
  b->allow_extras();
  b->footer("Arguments after -- go to Google Benchmark (e.g. -- --benchmark_format=json).");
  return b;
}

int RunBench(const BenchArgs& a, CLI::App* command, int argc, char** argv) {
  using bench::Measure;
  using bench::Preset;
  if (a.quick && a.full)
    throw Error(ErrorCode::kInvalidArgument, "--quick and --full exclude each other");
  bench::SuiteOptions o;
  o.preset = a.quick ? Preset::kQuick : a.full ? Preset::kFull : Preset::kDefault;
  o.families = a.families;
  o.targets = a.targets;
  o.threads = ParseThreads(a.threads);

  const bool counting = command->count("--instructions") > 0;
  if (counting) {
    std::string mode = a.instructions.empty() ? "auto" : a.instructions;
    if (RUNNING_ON_VALGRIND) {
      const char* out = std::getenv(kCallgrindOutEnv);
      if (out == nullptr) {
        throw Error(ErrorCode::kInvalidArgument,
                    "running under Valgrind without " + std::string(kCallgrindOutEnv) +
                        ": let `propel bench --instructions callgrind` start Valgrind");
      }
      o.measure = Measure::kCallgrind;
      o.callgrind_out = out;
    } else {
      std::string why;
      if (mode != "callgrind" && bench::PerfInstructionsAvailable(&why)) {
        o.measure = Measure::kPerf;
      } else if (mode == "perf") {
        throw Error(ErrorCode::kUnsupported, "--instructions perf: " + why);
      } else if (!OnPath("valgrind")) {
        throw Error(ErrorCode::kUnsupported,
                    "--instructions: no hardware instruction counter here (" +
                        (why.empty() ? std::string("not tried") : why) +
                        ") and valgrind is not installed (apt-get install valgrind)");
      } else {
        return RunUnderCallgrind(argc, argv);
      }
    }
    // Counts are per thread: one thread, and the best target unless asked (Valgrind's best is
    // AVX2 at most).
    o.threads = {1};
    if (o.targets.empty()) o.targets = {"best"};
  }

  const int repetitions = a.repetitions > 0 ? a.repetitions
                          : counting        ? 1
                          : a.quick         ? 1
                          : a.full          ? 9
                                            : 5;
  const double min_time = a.min_time > 0 ? a.min_time : a.quick ? 0.01 : a.full ? 0.2 : 0.05;
  const bool interleave = a.interleave == "yes" || (a.interleave == "auto" && repetitions > 1);

  std::vector<std::string> gb = {argv[0]};
  // Results go to a temporary file renamed over --out at the end: an interrupted or failed run
  // leaves the previous results as they were.
  const std::string partial = a.out + ".tmp-" + std::to_string(::getpid());
  if (!a.list) {
    std::FILE* probe = std::fopen(partial.c_str(), "w");
    if (probe == nullptr) {
      throw Error(ErrorCode::kIo,
                  "--out " + a.out + ": cannot write " + partial + ": " + std::strerror(errno));
    }
    std::fclose(probe);
    gb.push_back("--benchmark_out=" + partial);
    gb.push_back("--benchmark_out_format=json");
  }
  gb.push_back("--benchmark_repetitions=" + std::to_string(repetitions));
  gb.push_back("--benchmark_min_time=" + std::to_string(min_time));
  gb.push_back(std::string("--benchmark_enable_random_interleaving=") +
               (interleave ? "true" : "false"));
  if (!a.filter.empty()) gb.push_back("--benchmark_filter=" + a.filter);
  if (a.list) gb.push_back("--benchmark_list_tests=true");
  for (const std::string& extra : command->remaining()) gb.push_back(extra);
  std::vector<char*> gb_argv;
  for (auto& s : gb) gb_argv.push_back(s.data());
  int gb_argc = static_cast<int>(gb_argv.size());
  gb_argv.push_back(nullptr);
  benchmark::Initialize(&gb_argc, gb_argv.data());
  if (benchmark::ReportUnrecognizedArguments(gb_argc, gb_argv.data())) return 2;

  const auto t0 = std::chrono::steady_clock::now();
  size_t ran = 0;
  int registered = 0;
  try {
    const bench::Limits limits = a.list ? bench::Limits{} : bench::MeasureLimits(o);
    registered = bench::RegisterSuite(o, limits);
    bench::AddSuiteContext(o, limits);
    ran = benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
  } catch (...) {
    if (!a.list) std::remove(partial.c_str());
    throw;
  }
  if (a.list) return 0;
  if (ran == 0) {
    std::remove(partial.c_str());
    std::fprintf(stderr, "propel bench: no benchmark matched (%d registered); see --list\n",
                 registered);
    return 1;
  }
  std::error_code ec;
  std::filesystem::rename(partial, a.out, ec);
  if (ec) {
    std::remove(partial.c_str());
    throw Error(ErrorCode::kIo, "--out " + a.out + ": " + ec.message());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "propel bench: %zu benchmarks x %d repetitions in %.0f s -> %s\n", ran,
               repetitions, s, a.out.c_str());
  return 0;
}

CLI::App* AddCompareCommand(CLI::App& app) {
  CLI::App* c = app.add_subcommand(
      "compare",
      "compare `propel bench` results: regressions (U test, geometric mean, exit code), tables "
      "across CPUs and targets, charts; `propel compare --help` for the options");
  c->prefix_command();
  c->set_help_flag();  // --help goes to the comparison script
  return c;
}

int RunCompare(CLI::App* command) {
  // The script: next to an installed binary (../share/propel), else in the source tree.
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PROPEL_COMPARE_SCRIPT")) candidates.emplace_back(env);
  const std::string self = SelfPath();
  if (!self.empty()) {
    candidates.push_back(
        (std::filesystem::path(self).parent_path().parent_path() / "share/propel/propel_compare.py")
            .string());
  }
  candidates.emplace_back(PROPEL_SOURCE_DIR "/tools/propel_compare.py");
  std::string script;
  for (const std::string& p : candidates) {
    if (::access(p.c_str(), R_OK) == 0) {
      script = p;
      break;
    }
  }
  if (script.empty())
    throw Error(ErrorCode::kIo,
                "propel_compare.py not found (looked in " + candidates.back() + ")");
  // The interpreter: PROPEL_PYTHON, else the one the build chose (cmake/PropelPython.cmake),
  // never whichever python3 comes first on PATH.
  std::string python = PROPEL_PYTHON_EXECUTABLE;
  std::string origin = "the interpreter propel was built with";
  if (const char* env = std::getenv("PROPEL_PYTHON"); env != nullptr && *env != '\0') {
    python = env;
    origin = "PROPEL_PYTHON";
  }
  std::vector<std::string> args = {python, script};
  for (const std::string& s : command->remaining()) args.push_back(s);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  ::execvp(python.c_str(), argv.data());
  const int err = errno;
  throw Error(ErrorCode::kIo, "cannot run the Python interpreter '" + python + "' (" + origin +
                                  ") for propel compare: " + std::strerror(err) +
                                  "; set PROPEL_PYTHON to an interpreter that has numpy and scipy");
}

}  // namespace propel::cli
