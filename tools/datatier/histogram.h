// Latencies of many short operations, kept in fixed buckets so that
// recording one costs no allocation: `datatier bench`'s mark_dirty() and
// read latencies.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace datatier::cli {

// Latencies in buckets of 100 ns up to 100 ms, the rest in the last bucket.
class Histogram {
 public:
  void add(std::chrono::nanoseconds took) {
    const auto ns = static_cast<std::size_t>(std::max<std::int64_t>(0, took.count()));
    ++counts_[std::min(ns / kBucketNs, kBuckets - 1)];
    max_ns_ = std::max(max_ns_, ns);
  }

  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    max_ns_ = std::max(max_ns_, other.max_ns_);
  }

  // The latency below which `share` of the samples lie, in microseconds:
  // the upper end of its bucket; 0 without samples.
  double percentile_us(double share) const {
    std::uint64_t total = 0;
    for (const std::uint64_t c : counts_) total += c;
    if (total == 0) return 0;
    const auto wanted = static_cast<std::uint64_t>(share * static_cast<double>(total));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > wanted) return static_cast<double>((i + 1) * kBucketNs) / 1000;
    }
    return static_cast<double>(kBuckets * kBucketNs) / 1000;
  }

  // The longest latency, exact, in microseconds; 0 without samples.
  double max_us() const { return static_cast<double>(max_ns_) / 1000; }

 private:
  static constexpr std::size_t kBucketNs = 100;
  static constexpr std::size_t kBuckets = 1'000'001;

  std::vector<std::uint64_t> counts_ = std::vector<std::uint64_t>(kBuckets);
  std::size_t max_ns_ = 0;
};

}  // namespace datatier::cli
