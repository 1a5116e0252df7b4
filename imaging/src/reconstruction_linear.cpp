// Piecewise-linear interpolation on the Delaunay triangulation of the sampled pixel centres.
// Bowyer (1981, Comput. J. 24, 162) / Watson (1981, Comput. J. 24, 167) incremental insertion:
// locate the triangle holding the new point by a remembering stochastic walk (Devillers, Pion &
// Teillaud 2002, IJFCS 13, 181), grow the cavity of triangles whose circumcircle strictly holds
// the point, and re-triangulate it as a fan. Points are pixel centres (integers), so the
// orientation and in-circle predicates are evaluated exactly in 128-bit integers: no epsilon,
// no failure on the many co-circular quadruples of a pixel grid. Points are inserted in Hilbert
// order so that walks are short (expected O(n log n)-ish overall).

#include <autostem/imaging/metrics.hpp>
#include <autostem/imaging/reconstruction.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace autostem {

namespace {

using i64 = std::int64_t;
__extension__ typedef __int128 i128;

struct Pt {
  i64 x, y;  // x = col, y = row
};

/// Twice the signed area of (a, b, c): > 0 counter-clockwise (x right, y down ⇒ visually
/// clockwise, but consistently so everywhere).
i128 orient(const Pt& a, const Pt& b, const Pt& c) {
  return static_cast<i128>(b.x - a.x) * (c.y - a.y) - static_cast<i128>(b.y - a.y) * (c.x - a.x);
}

/// > 0 when d lies strictly inside the circumcircle of the positively oriented (a, b, c).
i128 incircle(const Pt& a, const Pt& b, const Pt& c, const Pt& d) {
  const i128 adx = a.x - d.x, ady = a.y - d.y, bdx = b.x - d.x, bdy = b.y - d.y, cdx = c.x - d.x,
             cdy = c.y - d.y;
  const i128 ad = adx * adx + ady * ady, bd = bdx * bdx + bdy * bdy, cd = cdx * cdx + cdy * cdy;
  return ad * (bdx * cdy - cdx * bdy) + bd * (cdx * ady - adx * cdy) + cd * (adx * bdy - bdx * ady);
}

/// A cavity boundary edge (a, b) in its cavity triangle's orientation, with the triangle outside
/// it (−1 none) and the cavity triangle it belonged to.
struct Edge {
  int a, b, outside, tri;
};

struct Tri {
  std::array<int, 3> v;  // positively oriented
  std::array<int, 3> n;  // n[i]: neighbour across the edge opposite v[i]; −1 none
  bool alive = true;
};

/// Hilbert-curve index of (x, y) in a 2^order × 2^order grid (the classic rotate-and-flip walk).
std::uint64_t hilbert(std::uint64_t n, std::uint64_t x, std::uint64_t y) {
  std::uint64_t d = 0;
  for (std::uint64_t s = n / 2; s > 0; s /= 2) {
    const std::uint64_t rx = (x & s) > 0, ry = (y & s) > 0;
    d += s * s * ((3 * rx) ^ ry);
    if (ry == 0) {
      if (rx == 1) {
        x = s - 1 - x;
        y = s - 1 - y;
      }
      std::swap(x, y);
    }
  }
  return d;
}

class Delaunay {
 public:
  explicit Delaunay(std::vector<Pt> pts) : p_(std::move(pts)) {
    const int n = static_cast<int>(p_.size());
    // A bounding triangle far enough that its vertices barely perturb the hull: coordinates up
    // to 4·S = 2^24 keep the in-circle determinant below 2^101.
    constexpr i64 S = i64{1} << 22;
    p_.push_back({-S, -S});
    p_.push_back({-S, 3 * S});
    p_.push_back({3 * S, -S});
    super_ = n;
    Tri t;
    t.v = {n, n + 1, n + 2};
    if (orient(p_[n], p_[n + 1], p_[n + 2]) < 0) std::swap(t.v[1], t.v[2]);
    t.n = {-1, -1, -1};
    tris_.push_back(t);
  }

  void insert(int pi) {
    const Pt& p = p_[pi];
    const int t0 = locate(p);
    // Cavity: triangles whose circumcircle strictly contains p (connected, star-shaped from p).
    cavity_.clear();
    stack_.clear();
    stack_.push_back(t0);
    mark_[t0] = stamp_ + 1;
    while (!stack_.empty()) {
      const int t = stack_.back();
      stack_.pop_back();
      cavity_.push_back(t);
      for (int i = 0; i < 3; ++i) {
        const int nb = tris_[t].n[i];
        if (nb < 0 || mark_[nb] > stamp_) continue;
        const Tri& u = tris_[nb];
        if (incircle(p_[u.v[0]], p_[u.v[1]], p_[u.v[2]], p) > 0) {
          mark_[nb] = stamp_ + 1;
          stack_.push_back(nb);
        }
      }
    }
    std::vector<Edge>& edges = edges_;
    edges.clear();
    for (int t : cavity_)
      for (int i = 0; i < 3; ++i) {
        const int nb = tris_[t].n[i];
        if (nb >= 0 && mark_[nb] > stamp_) continue;
        edges.push_back({tris_[t].v[(i + 1) % 3], tris_[t].v[(i + 2) % 3], nb, t});
      }
    stamp_ += 1;
    for (int t : cavity_) tris_[t].alive = false;
    const int first = static_cast<int>(tris_.size());
    for (const Edge& e : edges) {
      Tri t;
      t.v = {pi, e.a, e.b};
      t.n = {e.outside, -1, -1};
      const int id = static_cast<int>(tris_.size());
      tris_.push_back(t);
      mark_.push_back(0);
      if (e.outside >= 0) {
        Tri& o = tris_[e.outside];
        for (int i = 0; i < 3; ++i)
          if (o.n[i] == e.tri) o.n[i] = id;
      }
    }
    // Fan neighbours: the edge (p, b) of the triangle on (a, b) is shared with the triangle whose
    // first boundary vertex is b, and vice versa.
    const int last = static_cast<int>(tris_.size());
    for (int t = first; t < last; ++t)
      for (int u = first; u < last; ++u) {
        if (t == u) continue;
        if (tris_[u].v[1] == tris_[t].v[2]) {  // u starts where t ends: edge (p, t.b)
          tris_[t].n[1] = u;                   // opposite t.v[1] = a is the edge (b, p)
          tris_[u].n[2] = t;                   // opposite u.v[2] is the edge (p, u.a)
        }
      }
    last_ = first;
  }

  /// Calls f(a, b, c) for every triangle of real points (no bounding-triangle vertex).
  template <class F>
  void for_each_triangle(F&& f) const {
    for (const Tri& t : tris_)
      if (t.alive && t.v[0] < super_ && t.v[1] < super_ && t.v[2] < super_) f(t.v[0], t.v[1], t.v[2]);
  }

  const Pt& point(int i) const { return p_[i]; }
  void reserve(std::size_t n) {
    tris_.reserve(2 * n + 8);
    mark_.reserve(2 * n + 8);
  }

 private:
  int locate(const Pt& p) {
    if (mark_.size() < tris_.size()) mark_.resize(tris_.size(), 0);
    int t = last_;
    while (!tris_[t].alive) --t;  // the most recent fan is alive; this is a safeguard
    int from = -1;
    for (;;) {
      const Tri& tr = tris_[t];
      const int start = static_cast<int>(rng_() % 3);
      int next = -1;
      for (int k = 0; k < 3; ++k) {
        const int i = (start + k) % 3;
        if (tr.n[i] == from && from >= 0) continue;
        if (orient(p_[tr.v[(i + 1) % 3]], p_[tr.v[(i + 2) % 3]], p) < 0) {
          next = tr.n[i];
          break;
        }
      }
      if (next < 0) return t;
      from = t;
      t = next;
    }
  }

  std::vector<Pt> p_;
  std::vector<Tri> tris_;
  std::vector<std::uint64_t> mark_;
  std::uint64_t stamp_ = 0;
  std::vector<int> cavity_, stack_;
  std::vector<Edge> edges_;
  int super_ = 0;
  int last_ = 0;
  std::minstd_rand rng_{12345};
};

}  // namespace

ImageArray reconstruct_linear(const PixelSamples& s) {
  const std::size_t n = s.size();
  // Nearest fill first: it is the answer outside the hull and in degenerate cases.
  std::vector<Position> pos(n);
  for (std::size_t i = 0; i < n; ++i)
    pos[i] = {static_cast<double>(s.index[i] / s.cols), static_cast<double>(s.index[i] % s.cols)};
  ImageArray out = inpaint_nearest(pos, s.value, s.rows, s.cols);
  if (n < 3) return out;

  std::vector<Pt> pts(n);
  for (std::size_t i = 0; i < n; ++i)
    pts[i] = {static_cast<i64>(s.index[i] % s.cols), static_cast<i64>(s.index[i] / s.cols)};
  std::uint64_t side = 1;
  while (side < std::max(s.rows, s.cols)) side *= 2;
  std::vector<std::uint64_t> key(n);
  for (std::size_t i = 0; i < n; ++i)
    key[i] = hilbert(side, static_cast<std::uint64_t>(pts[i].x), static_cast<std::uint64_t>(pts[i].y));
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return key[a] < key[b]; });

  Delaunay dt(pts);
  dt.reserve(n);
  for (int i : order) dt.insert(i);

  // Rasterise every triangle: barycentric weights from the exact edge functions.
  dt.for_each_triangle([&](int ia, int ib, int ic) {
    const Pt &a = dt.point(ia), &b = dt.point(ib), &c = dt.point(ic);
    const double area = static_cast<double>(orient(a, b, c));
    const i64 x0 = std::min({a.x, b.x, c.x}), x1 = std::max({a.x, b.x, c.x});
    const i64 y0 = std::min({a.y, b.y, c.y}), y1 = std::max({a.y, b.y, c.y});
    const double va = s.value[static_cast<std::size_t>(ia)], vb = s.value[static_cast<std::size_t>(ib)],
                 vc = s.value[static_cast<std::size_t>(ic)];
    for (i64 y = y0; y <= y1; ++y)
      for (i64 x = x0; x <= x1; ++x) {
        const Pt q{x, y};
        const i128 w0 = orient(b, c, q), w1 = orient(c, a, q), w2 = orient(a, b, q);
        if (w0 < 0 || w1 < 0 || w2 < 0) continue;
        out(y, x) = (static_cast<double>(w0) * va + static_cast<double>(w1) * vb +
                     static_cast<double>(w2) * vc) /
                    area;
      }
  });
  for (std::size_t i = 0; i < n; ++i) out.data()[s.index[i]] = s.value[i];  // exact, not via weights
  return out;
}

}  // namespace autostem
