#pragma once
// One name → (description, factory) table for every plug-in seam: strategies, atom finders,
// reconstruction methods, command-line backends (docs/design-notes.md, "Registries and parameter
// schemas"). Header-only and contract-level: it knows nothing of what it stores.

#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace autostem {

/// A table of named plug-ins. Factory: what builds one (usually a std::function; it must be
/// copyable and testable for emptiness with `!factory` when it is a function or pointer). Info:
/// what describes one (a help line, or a parameter schema). Names are kept sorted.
/// Registering a name again replaces the entry. Every member is thread-safe.
template <class Factory, class Info = std::string>
class Registry {
 public:
  struct Entry {
    Info info;
    Factory make;
  };

  /// kind: what one entry is, in messages ("strategy", "atom finder", "method", "backend").
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  /// Adds or replaces name. Throws std::invalid_argument for an empty name or an empty factory.
  void add(const std::string& name, Info info, Factory make) {
    if (name.empty()) throw std::invalid_argument("register " + kind_ + ": empty name");
    if constexpr (requires { static_cast<bool>(make); }) {
      if (!static_cast<bool>(make))
        throw std::invalid_argument("register " + kind_ + ": '" + name + "' has no factory");
    }
    std::lock_guard lock(mutex_);
    entries_.insert_or_assign(name, Entry{std::move(info), std::move(make)});
  }

  bool contains(const std::string& name) const {
    std::lock_guard lock(mutex_);
    return entries_.count(name) > 0;
  }

  /// The entry of name (a copy), or nullopt.
  std::optional<Entry> find(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  /// The entry of name (a copy). Throws std::invalid_argument with unknown_message(name).
  Entry at(const std::string& name) const {
    auto e = find(name);
    if (!e) throw std::invalid_argument(unknown_message(name));
    return *std::move(e);
  }

  /// Every registered name, sorted.
  std::vector<std::string> names() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& [n, e] : entries_) out.push_back(n);
    return out;
  }

  /// The names joined by sep, e.g. "cs, edge, grid".
  std::string joined_names(const std::string& sep = ", ") const {
    std::string s;
    for (const auto& n : names()) s += (s.empty() ? "" : sep) + n;
    return s;
  }

  /// "unknown <kind> 'name'; valid: a, b, c".
  std::string unknown_message(const std::string& name) const {
    return "unknown " + kind_ + " '" + name + "'; valid: " + joined_names();
  }

  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace autostem
