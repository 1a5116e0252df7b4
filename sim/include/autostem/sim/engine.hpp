#pragma once
// The discrete-event engine of the simulated instrument (DESIGN.md §5). Modelled on ns-3's
// Simulator/EventId and simcpp20's simulation, with three differences that matter here:
//  - a Simulation is an object, not a global: many run side by side in one process (one per
//    thread; a Simulation itself is not thread-safe);
//  - exceptions thrown by an event's callback propagate out of step()/run()/run_until()
//    unchanged (the event is consumed first, so the engine stays consistent and can go on);
//  - time is an integer count of nanoseconds, so that event order never depends on rounding.

#include <autostem/core/random.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

namespace autostem::sim {

/// Simulated time: integer nanoseconds since the simulation began (int64: ±292 years).
using Duration = std::chrono::duration<std::int64_t, std::nano>;
using Time = Duration;

/// Converts seconds to simulated time, rounding to the nearest nanosecond.
/// Throws std::invalid_argument if seconds is not finite or exceeds ±9.2e9 s.
Duration from_seconds(double seconds);
/// Converts simulated time to seconds.
inline double to_seconds(Duration d) { return static_cast<double>(d.count()) * 1e-9; }

/// Handle of a scheduled event; default-constructed = no event. Cheap to copy.
struct EventId {
  std::uint32_t slot = 0;
  std::uint64_t sequence = 0;  ///< 0 = none; sequence numbers start at 1
  explicit operator bool() const { return sequence != 0; }
  friend bool operator==(const EventId&, const EventId&) = default;
};

class Simulation {
 public:
  using Callback = std::function<void()>;

  Simulation() = default;
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  /// Current simulated time. Starts at 0; only ever increases.
  Time now() const { return now_; }
  double now_s() const { return to_seconds(now_); }

  /// Schedules callback at now() + delay. Events at the same time run in the order they were
  /// scheduled (FIFO, by sequence number). Throws std::invalid_argument if delay < 0 or the
  /// callback is empty.
  EventId schedule(Duration delay, Callback callback);
  /// Schedules callback at absolute time t. Throws std::invalid_argument if t < now().
  EventId schedule_at(Time t, Callback callback);

  /// Cancels a pending event in O(1): its callback is released now and the queue entry is
  /// skipped when reached. Returns false (and does nothing) if the event already ran, was
  /// cancelled before, or the id is empty.
  bool cancel(EventId id);
  /// True when the event is scheduled and neither ran nor was cancelled.
  bool is_pending(EventId id) const;

  /// Runs the next pending event (advancing now() to its time). Returns false when there is
  /// none. An exception from the callback propagates; the event counts as run.
  bool step();
  /// Runs events until none is left.
  void run();
  /// Runs every event with time <= t — events at exactly t DO run, including ones they schedule
  /// at t — then sets now() = t. Throws std::invalid_argument if t < now().
  void run_until(Time t);
  /// Advances by d: run_until(now() + d). Throws std::invalid_argument if d < 0.
  void run_for(Duration d) { run_until(now_ + check_delay(d)); }

  /// Events scheduled and neither run nor cancelled.
  std::size_t pending() const { return live_; }
  /// Time of the next pending event; now() when none is pending.
  Time next_time();
  /// Number of callbacks run so far.
  std::uint64_t events_run() const { return events_run_; }

 private:
  struct Entry {
    Time time;
    std::uint64_t sequence;
    std::uint32_t slot;
    // Min-heap on (time, sequence) through std::priority_queue's max-heap.
    bool operator<(const Entry& o) const {
      return time != o.time ? time > o.time : sequence > o.sequence;
    }
  };
  struct Slot {
    Callback callback;
    std::uint64_t sequence = 0;  ///< 0 = free
  };

  static Duration check_delay(Duration d);
  void drop_cancelled_top();
  void release(std::uint32_t slot);

  Time now_{0};
  std::uint64_t next_sequence_ = 1;
  std::uint64_t events_run_ = 0;
  std::size_t live_ = 0;
  std::priority_queue<Entry> queue_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
};

/// splitmix64 lives in <autostem/core/random.hpp> (the one home of the project's random
/// numbers); kept visible here under its old name.
using random::splitmix64;

/// xoshiro256++ (Blackman & Vigna, "Scrambled linear pseudorandom number generators", ACM TOMS
/// 47 (2021); reference code prng.di.unimi.it): 256-bit state, period 2^256 − 1, passes BigCrush.
/// Used instead of std::mt19937_64 because drawing the shot noise of every channel of every
/// spectrum is the simulator's hot loop, and this generator is several times cheaper per draw.
/// Satisfies UniformRandomBitGenerator (64-bit), so the distributions of
/// <autostem/core/random.hpp> accept it.
class Rng {
 public:
  using result_type = std::uint64_t;
  /// State from four splitmix64 outputs of seed (the seeding its authors recommend).
  explicit Rng(std::uint64_t seed = 0);
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() {
    const std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  friend bool operator==(const Rng&, const Rng&) = default;

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

/// Seeds one component's random stream from the simulation seed and a component id, so that
/// each model (survey noise, spectrum noise, drift, …) draws from its own reproducible stream
/// regardless of how many numbers the others consume.
Rng component_stream(std::uint64_t seed, std::uint64_t component_id);

}  // namespace autostem::sim
