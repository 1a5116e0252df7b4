#include <autostem/sim/engine.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace autostem::sim {

Duration from_seconds(double seconds) {
  // 9.2e9 s keeps llround inside int64 nanoseconds.
  if (!std::isfinite(seconds) || std::abs(seconds) > 9.2e9)
    throw std::invalid_argument("simulated time: " + std::to_string(seconds) +
                                " s is not a finite duration within ±9.2e9 s");
  return Duration{static_cast<std::int64_t>(std::llround(seconds * 1e9))};
}

Duration Simulation::check_delay(Duration d) {
  if (d < Duration::zero())
    throw std::invalid_argument("Simulation: negative delay " + std::to_string(d.count()) +
                                " ns; events cannot be scheduled in the past");
  return d;
}

EventId Simulation::schedule(Duration delay, Callback callback) {
  return schedule_at(now_ + check_delay(delay), std::move(callback));
}

EventId Simulation::schedule_at(Time t, Callback callback) {
  if (t < now_)
    throw std::invalid_argument("Simulation: schedule_at(" + std::to_string(t.count()) +
                                " ns) is before now (" + std::to_string(now_.count()) + " ns)");
  if (!callback) throw std::invalid_argument("Simulation: empty callback");
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    if (slots_.size() >= std::numeric_limits<std::uint32_t>::max())
      throw std::length_error("Simulation: too many pending events");
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  const std::uint64_t seq = next_sequence_++;
  slots_[slot].callback = std::move(callback);
  slots_[slot].sequence = seq;
  queue_.push(Entry{t, seq, slot});
  ++live_;
  return EventId{slot, seq};
}

void Simulation::release(std::uint32_t slot) {
  slots_[slot].callback = nullptr;
  slots_[slot].sequence = 0;
  free_slots_.push_back(slot);
  --live_;
}

bool Simulation::is_pending(EventId id) const {
  return id.sequence != 0 && id.slot < slots_.size() && slots_[id.slot].sequence == id.sequence;
}

bool Simulation::cancel(EventId id) {
  if (!is_pending(id)) return false;
  release(id.slot);
  return true;
}

void Simulation::drop_cancelled_top() {
  while (!queue_.empty() && slots_[queue_.top().slot].sequence != queue_.top().sequence)
    queue_.pop();
}

Time Simulation::next_time() {
  drop_cancelled_top();
  return queue_.empty() ? now_ : queue_.top().time;
}

bool Simulation::step() {
  drop_cancelled_top();
  if (queue_.empty()) return false;
  const Entry e = queue_.top();
  queue_.pop();
  // The heap order guarantees this; it stays on in release builds because a violation would
  // silently corrupt every timing result.
  if (e.time < now_) throw std::logic_error("Simulation: time went backwards");
  now_ = e.time;
  Callback cb = std::move(slots_[e.slot].callback);
  release(e.slot);
  ++events_run_;
  cb();  // exceptions propagate; the event is already consumed
  return true;
}

void Simulation::run() {
  while (step()) {
  }
}

void Simulation::run_until(Time t) {
  if (t < now_)
    throw std::invalid_argument("Simulation: run_until(" + std::to_string(t.count()) +
                                " ns) is before now (" + std::to_string(now_.count()) + " ns)");
  for (;;) {
    drop_cancelled_top();
    if (queue_.empty() || queue_.top().time > t) break;
    step();
  }
  now_ = t;
}

Rng::Rng(std::uint64_t seed) {
  for (auto& w : s_) w = splitmix64(seed);
}

Rng component_stream(std::uint64_t seed, std::uint64_t component_id) {
  // Mix the id through splitmix64 too, so that neighbouring (seed, id) pairs give unrelated
  // states.
  std::uint64_t state = seed;
  const std::uint64_t a = splitmix64(state);
  std::uint64_t id_state = component_id ^ 0xD1B54A32D192ED03ull;
  return Rng(a ^ splitmix64(id_state));
}

}  // namespace autostem::sim
