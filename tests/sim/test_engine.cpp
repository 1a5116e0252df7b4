// The discrete-event engine: order by (time, sequence), FIFO ties, O(1) cancel, run_until at
// exactly t, exceptions propagate, no negative delays, independent simulations and streams.
#include <autostem/sim/engine.hpp>

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <vector>

using namespace autostem::sim;
using namespace std::chrono_literals;

TEST(Engine, RunsEventsInTimeOrder) {
  Simulation sim;
  std::vector<int> order;
  std::vector<Time> times;
  sim.schedule(30ns, [&] { order.push_back(3); times.push_back(sim.now()); });
  sim.schedule(10ns, [&] { order.push_back(1); times.push_back(sim.now()); });
  sim.schedule(20ns, [&] { order.push_back(2); times.push_back(sim.now()); });
  sim.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(times, (std::vector<Time>{10ns, 20ns, 30ns}));
  EXPECT_EQ(sim.now(), 30ns);
  EXPECT_EQ(sim.events_run(), 3u);
  EXPECT_EQ(sim.pending(), 0u);
}

TEST(Engine, SimultaneousEventsRunFirstInFirstOut) {
  Simulation sim;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) sim.schedule(7ns, [&, i] {
      order.push_back(i);
      // Scheduled later at the same time: runs after every event already queued for 7 ns.
      if (i == 0) sim.schedule(0ns, [&] { order.push_back(100); });
    });
  sim.schedule_at(7ns, [&] { order.push_back(5); });
  sim.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 100}));
}

TEST(Engine, CancelSkipsTheEventAndIsIdempotent) {
  Simulation sim;
  int ran = 0;
  auto a = sim.schedule(1ns, [&] { ran += 1; });
  auto b = sim.schedule(2ns, [&] { ran += 10; });
  EXPECT_TRUE(sim.is_pending(a));
  EXPECT_EQ(sim.pending(), 2u);
  EXPECT_TRUE(sim.cancel(a));
  EXPECT_FALSE(sim.is_pending(a));
  EXPECT_FALSE(sim.cancel(a));  // second cancel does nothing
  EXPECT_EQ(sim.pending(), 1u);
  // The freed slot is reused; the stale id must not cancel the new event.
  auto c = sim.schedule(3ns, [&] { ran += 100; });
  EXPECT_EQ(c.slot, a.slot);
  EXPECT_FALSE(sim.cancel(a));
  sim.run();
  EXPECT_EQ(ran, 110);
  EXPECT_FALSE(sim.cancel(b));  // already ran
  EXPECT_FALSE(sim.cancel(EventId{}));
  EXPECT_EQ(sim.now(), 3ns);
}

TEST(Engine, RunUntilRunsEventsAtExactlyTAndStopsThere) {
  Simulation sim;
  std::vector<int> order;
  sim.schedule(100ns, [&] {
    order.push_back(1);
    sim.schedule(0ns, [&] { order.push_back(2); });  // also at exactly t: runs
  });
  sim.schedule(101ns, [&] { order.push_back(3); });
  sim.run_until(100ns);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(sim.now(), 100ns);
  EXPECT_EQ(sim.pending(), 1u);
  sim.run_until(150ns);  // past the last event: now() is t, not the event's time
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(sim.now(), 150ns);
  EXPECT_THROW(sim.run_until(149ns), std::invalid_argument);
  sim.run_until(150ns);  // same time is allowed
  EXPECT_EQ(sim.now(), 150ns);
}

TEST(Engine, StepRunsOneEventAndReportsEmpty) {
  Simulation sim;
  int n = 0;
  sim.schedule(5ns, [&] { ++n; });
  auto x = sim.schedule(6ns, [&] { n += 100; });
  sim.cancel(x);
  EXPECT_EQ(sim.next_time(), 5ns);
  EXPECT_TRUE(sim.step());
  EXPECT_EQ(n, 1);
  EXPECT_FALSE(sim.step());  // only a cancelled event left
  EXPECT_EQ(sim.now(), 5ns);
}

TEST(Engine, ExceptionsFromCallbacksPropagateAndTheEngineGoesOn) {
  Simulation sim;
  int after = 0;
  sim.schedule(1ns, [] { throw std::runtime_error("model fault"); });
  sim.schedule(2ns, [&] { ++after; });
  try {
    sim.run();
    FAIL() << "exception swallowed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "model fault");
  }
  EXPECT_EQ(sim.now(), 1ns);
  EXPECT_EQ(sim.pending(), 1u);  // the throwing event was consumed
  sim.run();
  EXPECT_EQ(after, 1);
}

TEST(Engine, RefusesNegativeDelaysAndThePast) {
  Simulation sim;
  EXPECT_THROW(sim.schedule(-1ns, [] {}), std::invalid_argument);
  sim.run_until(10ns);
  EXPECT_THROW(sim.schedule_at(9ns, [] {}), std::invalid_argument);
  EXPECT_THROW(sim.run_for(-1ns), std::invalid_argument);
  EXPECT_THROW(sim.schedule(1ns, Simulation::Callback{}), std::invalid_argument);
  EXPECT_EQ(sim.pending(), 0u);
}

TEST(Engine, SecondsConversionRoundsToNanoseconds) {
  EXPECT_EQ(from_seconds(1.5e-9), 2ns);
  EXPECT_EQ(from_seconds(7.02), 7020000000ns);
  EXPECT_DOUBLE_EQ(to_seconds(from_seconds(4.12)), 4.12);
  EXPECT_THROW(from_seconds(std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
  EXPECT_THROW(from_seconds(1e10), std::invalid_argument);
}

TEST(Engine, SimulationsAreIndependentObjects) {
  Simulation a, b;
  int na = 0, nb = 0;
  a.schedule(5ns, [&] { ++na; });
  b.schedule(3ns, [&] { ++nb; });
  a.run();
  EXPECT_EQ(na, 1);
  EXPECT_EQ(nb, 0);
  EXPECT_EQ(b.now(), 0ns);
  b.run();
  EXPECT_EQ(b.now(), 3ns);
}

TEST(Engine, ComponentStreamsAreDeterministicAndDistinct) {
  auto s1 = component_stream(42, 1), s1b = component_stream(42, 1);
  auto s2 = component_stream(42, 2), s3 = component_stream(43, 1);
  const auto x = s1();
  EXPECT_EQ(x, s1b());
  EXPECT_NE(x, s2());
  EXPECT_NE(x, s3());
  std::uint64_t st = 0;
  // Vigna's reference splitmix64 output for state 0.
  EXPECT_EQ(splitmix64(st), 0xE220A8397B1DCDAFull);
}

TEST(Engine, RngIsXoshiro256PlusPlusSeededBySplitmix64) {
  // Reference values from an independent implementation of the published algorithms
  // (prng.di.unimi.it: splitmix64.c, xoshiro256plusplus.c), state = 4 splitmix64 outputs of 0.
  Rng r(0);
  EXPECT_EQ(r(), 0x53175d61490b23dfull);
  EXPECT_EQ(r(), 0x61da6f3dc380d507ull);
  EXPECT_EQ(r(), 0x5c0fdf91ec9a7bfcull);
  EXPECT_EQ(Rng(5), Rng(5));
  EXPECT_NE(Rng(5), Rng(6));
}
