// Internal: V8's Array.prototype.sort (TimSort, third_party/v8/builtins/array-sort.tq),
// step for step.
//
// Yjs's mergeUpdates sorts its readers with a comparator that is inconsistent for
// a GC and an Item at the same id (both orders answer "less"), so which one wins
// depends on the exact sequence of comparisons V8's sort makes. A byte-compatible
// merge reproduces that sequence; with a consistent comparator this is simply a
// stable sort. The reference is V8 11 (Node 20, what the differential tests run):
// it sorts every array with TimSort; later V8s use plain binary insertion below
// ten elements, which orders an inconsistent pair differently.
// Thread-safety: pure function over its arguments.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace quire::crdt::detail {

template <class T, class Cmp>
class V8Sort {
 public:
  V8Sort(std::vector<T>& a, Cmp cmp) : a_(a), cmp_(cmp) {}

  void run() {
    const long n = static_cast<long>(a_.size());
    if (n < 2) return;
    long remaining = n;
    long low = 0;
    const long min_run = min_run_length(remaining);
    while (remaining != 0) {
      long run = count_and_make_run(low, low + remaining);
      if (run < min_run) {
        const long forced = std::min(min_run, remaining);
        binary_insertion_sort(low, low + run, low + forced);
        run = forced;
      }
      runs_.push_back({low, run});
      merge_collapse();
      low += run;
      remaining -= run;
    }
    merge_force_collapse();
  }

 private:
  static constexpr long kMinGallopWins = 7;
  struct Run {
    long base;
    long length;
  };

  bool less(const T& x, const T& y) { return cmp_(x, y) < 0; }

  static long min_run_length(long n) {
    long r = 0;
    while (n >= 64) {
      r |= n & 1;
      n >>= 1;
    }
    return n + r;
  }

  void binary_insertion_sort(long low, long start_arg, long high) {
    long start = low == start_arg ? start_arg + 1 : start_arg;
    for (; start < high; ++start) {
      long left = low;
      long right = start;
      T pivot = a_[start];
      while (left < right) {
        const long mid = left + ((right - left) >> 1);
        if (less(pivot, a_[mid])) {
          right = mid;
        } else {
          left = mid + 1;
        }
      }
      for (long p = start; p > left; --p) a_[p] = a_[p - 1];
      a_[left] = pivot;
    }
  }

  long count_and_make_run(long low_arg, long high) {
    const long low = low_arg + 1;
    if (low == high) return 1;
    long run = 2;
    const bool descending = less(a_[low], a_[low - 1]);
    long prev = low;
    for (long idx = low + 1; idx < high; ++idx) {
      const bool order_lt = less(a_[idx], a_[prev]);
      if (descending ? !order_lt : order_lt) break;
      prev = idx;
      ++run;
    }
    if (descending) std::reverse(a_.begin() + low_arg, a_.begin() + low_arg + run);
    return run;
  }

  // array[base + offset - 1] < key <= array[base + offset]
  long gallop_left(const std::vector<T>& arr, const T& key, long base, long length, long hint) {
    long last = 0;
    long offset = 1;
    if (less(arr[base + hint], key)) {
      const long max_ofs = length - hint;
      while (offset < max_ofs) {
        if (!less(arr[base + hint + offset], key)) break;
        last = offset;
        offset = (offset << 1) + 1;
      }
      offset = std::min(offset, max_ofs);
      last += hint;
      offset += hint;
    } else {
      const long max_ofs = hint + 1;
      while (offset < max_ofs) {
        if (less(arr[base + hint - offset], key)) break;
        last = offset;
        offset = (offset << 1) + 1;
      }
      offset = std::min(offset, max_ofs);
      const long tmp = last;
      last = hint - offset;
      offset = hint - tmp;
    }
    ++last;
    while (last < offset) {
      const long m = last + ((offset - last) >> 1);
      if (less(arr[base + m], key)) {
        last = m + 1;
      } else {
        offset = m;
      }
    }
    return offset;
  }

  // array[base + offset - 1] <= key < array[base + offset]
  long gallop_right(const std::vector<T>& arr, const T& key, long base, long length, long hint) {
    long last = 0;
    long offset = 1;
    if (less(key, arr[base + hint])) {
      const long max_ofs = hint + 1;
      while (offset < max_ofs) {
        if (!less(key, arr[base + hint - offset])) break;
        last = offset;
        offset = (offset << 1) + 1;
      }
      offset = std::min(offset, max_ofs);
      const long tmp = last;
      last = hint - offset;
      offset = hint - tmp;
    } else {
      const long max_ofs = length - hint;
      while (offset < max_ofs) {
        if (less(key, arr[base + hint + offset])) break;
        last = offset;
        offset = (offset << 1) + 1;
      }
      offset = std::min(offset, max_ofs);
      last += hint;
      offset += hint;
    }
    ++last;
    while (last < offset) {
      const long m = last + ((offset - last) >> 1);
      if (less(key, arr[base + m])) {
        offset = m;
      } else {
        last = m + 1;
      }
    }
    return offset;
  }

  static void copy(const std::vector<T>& src, long src_pos, std::vector<T>& dst, long dst_pos, long length) {
    if (src_pos < dst_pos) {
      for (long s = src_pos + length - 1, d = dst_pos + length - 1; s >= src_pos;) dst[d--] = src[s--];
    } else {
      for (long s = src_pos, d = dst_pos; s < src_pos + length;) dst[d++] = src[s++];
    }
  }

  void merge_at(std::size_t i) {
    long base_a = runs_[i].base;
    long length_a = runs_[i].length;
    const long base_b = runs_[i + 1].base;
    long length_b = runs_[i + 1].length;
    runs_[i].length = length_a + length_b;
    if (i + 3 == runs_.size()) runs_[i + 1] = runs_[i + 2];
    runs_.pop_back();

    const long k = gallop_right(a_, a_[base_b], base_a, length_a, 0);
    base_a += k;
    length_a -= k;
    if (length_a == 0) return;
    length_b = gallop_left(a_, a_[base_a + length_a - 1], base_b, length_b, length_b - 1);
    if (length_b == 0) return;
    if (length_a <= length_b) {
      merge_low(base_a, length_a, base_b, length_b);
    } else {
      merge_high(base_a, length_a, base_b, length_b);
    }
  }

  void merge_low(long base_a, long length_a, long base_b, long length_b) {
    tmp_.assign(a_.begin() + base_a, a_.begin() + base_a + length_a);
    long dest = base_a;
    long cursor_tmp = 0;
    long cursor_b = base_b;
    a_[dest++] = a_[cursor_b++];
    enum { kSucceed, kCopyB } exit = kSucceed;
    if (--length_b == 0) goto done;
    if (length_a == 1) {
      exit = kCopyB;
      goto done;
    }
    for (;;) {
      long wins_a = 0;
      long wins_b = 0;
      for (;;) {
        if (less(a_[cursor_b], tmp_[cursor_tmp])) {
          a_[dest++] = a_[cursor_b++];
          ++wins_b;
          --length_b;
          wins_a = 0;
          if (length_b == 0) goto done;
          if (wins_b >= min_gallop_) break;
        } else {
          a_[dest++] = tmp_[cursor_tmp++];
          ++wins_a;
          --length_a;
          wins_b = 0;
          if (length_a == 1) {
            exit = kCopyB;
            goto done;
          }
          if (wins_a >= min_gallop_) break;
        }
      }
      ++min_gallop_;
      bool first = true;
      while (wins_a >= kMinGallopWins || wins_b >= kMinGallopWins || first) {
        first = false;
        min_gallop_ = std::max(1L, min_gallop_ - 1);
        wins_a = gallop_right(tmp_, a_[cursor_b], cursor_tmp, length_a, 0);
        if (wins_a > 0) {
          copy(tmp_, cursor_tmp, a_, dest, wins_a);
          dest += wins_a;
          cursor_tmp += wins_a;
          length_a -= wins_a;
          if (length_a == 1) {
            exit = kCopyB;
            goto done;
          }
          if (length_a == 0) goto done;
        }
        a_[dest++] = a_[cursor_b++];
        if (--length_b == 0) goto done;
        wins_b = gallop_left(a_, tmp_[cursor_tmp], cursor_b, length_b, 0);
        if (wins_b > 0) {
          copy(a_, cursor_b, a_, dest, wins_b);
          dest += wins_b;
          cursor_b += wins_b;
          length_b -= wins_b;
          if (length_b == 0) goto done;
        }
        a_[dest++] = tmp_[cursor_tmp++];
        if (--length_a == 1) {
          exit = kCopyB;
          goto done;
        }
      }
      ++min_gallop_;
    }
  done:
    if (exit == kSucceed) {
      if (length_a > 0) copy(tmp_, cursor_tmp, a_, dest, length_a);
    } else {
      copy(a_, cursor_b, a_, dest, length_b);
      a_[dest + length_b] = tmp_[cursor_tmp];
    }
  }

  void merge_high(long base_a, long length_a, long base_b, long length_b) {
    tmp_.assign(a_.begin() + base_b, a_.begin() + base_b + length_b);
    long dest = base_b + length_b - 1;
    long cursor_tmp = length_b - 1;
    long cursor_a = base_a + length_a - 1;
    a_[dest--] = a_[cursor_a--];
    enum { kSucceed, kCopyA } exit = kSucceed;
    if (--length_a == 0) goto done;
    if (length_b == 1) {
      exit = kCopyA;
      goto done;
    }
    for (;;) {
      long wins_a = 0;
      long wins_b = 0;
      for (;;) {
        if (less(tmp_[cursor_tmp], a_[cursor_a])) {
          a_[dest--] = a_[cursor_a--];
          ++wins_a;
          --length_a;
          wins_b = 0;
          if (length_a == 0) goto done;
          if (wins_a >= min_gallop_) break;
        } else {
          a_[dest--] = tmp_[cursor_tmp--];
          ++wins_b;
          --length_b;
          wins_a = 0;
          if (length_b == 1) {
            exit = kCopyA;
            goto done;
          }
          if (wins_b >= min_gallop_) break;
        }
      }
      ++min_gallop_;
      bool first = true;
      while (wins_a >= kMinGallopWins || wins_b >= kMinGallopWins || first) {
        first = false;
        min_gallop_ = std::max(1L, min_gallop_ - 1);
        long k = gallop_right(a_, tmp_[cursor_tmp], base_a, length_a, length_a - 1);
        wins_a = length_a - k;
        if (wins_a > 0) {
          dest -= wins_a;
          cursor_a -= wins_a;
          copy(a_, cursor_a + 1, a_, dest + 1, wins_a);
          length_a -= wins_a;
          if (length_a == 0) goto done;
        }
        a_[dest--] = tmp_[cursor_tmp--];
        if (--length_b == 1) {
          exit = kCopyA;
          goto done;
        }
        k = gallop_left(tmp_, a_[cursor_a], 0, length_b, length_b - 1);
        wins_b = length_b - k;
        if (wins_b > 0) {
          dest -= wins_b;
          cursor_tmp -= wins_b;
          copy(tmp_, cursor_tmp + 1, a_, dest + 1, wins_b);
          length_b -= wins_b;
          if (length_b == 1) {
            exit = kCopyA;
            goto done;
          }
          if (length_b == 0) goto done;
        }
        a_[dest--] = a_[cursor_a--];
        if (--length_a == 0) goto done;
      }
      ++min_gallop_;
    }
  done:
    if (exit == kSucceed) {
      if (length_b > 0) copy(tmp_, 0, a_, dest - (length_b - 1), length_b);
    } else {
      dest -= length_a;
      cursor_a -= length_a;
      copy(a_, cursor_a + 1, a_, dest + 1, length_a);
      a_[dest] = tmp_[cursor_tmp];
    }
  }

  bool invariant_ok(std::size_t n) const {
    if (n < 2) return true;
    return runs_[n - 2].length > runs_[n - 1].length + runs_[n].length;
  }

  void merge_collapse() {
    while (runs_.size() > 1) {
      std::size_t n = runs_.size() - 2;
      if (!invariant_ok(n + 1) || !invariant_ok(n)) {
        if (runs_[n - 1].length < runs_[n + 1].length) --n;
        merge_at(n);
      } else if (runs_[n].length <= runs_[n + 1].length) {
        merge_at(n);
      } else {
        break;
      }
    }
  }

  void merge_force_collapse() {
    while (runs_.size() > 1) {
      std::size_t n = runs_.size() - 2;
      if (n > 0 && runs_[n - 1].length < runs_[n + 1].length) --n;
      merge_at(n);
    }
  }

  std::vector<T>& a_;
  Cmp cmp_;
  std::vector<T> tmp_;
  std::vector<Run> runs_;
  long min_gallop_ = kMinGallopWins;
};

template <class T, class Cmp>
void v8_array_sort(std::vector<T>& a, Cmp cmp) {
  V8Sort<T, Cmp>(a, cmp).run();
}

}  // namespace quire::crdt::detail
