// pybind11 bindings of src_cpp/shamir.cpp. Thin: marshalling (Share objects or flat lists to pointer
// arrays, with structural checks reported as status codes), exact dtypes (no casting), GIL released
// around the core loops. User-facing messages live in secagg/shamir.py.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "register.hpp"
#include "secagg/errors.hpp"
#include "secagg/shamir.hpp"

namespace py = pybind11;
namespace sh = secagg::shamir;
using secagg::Error;
using secagg::ErrorCode;

namespace {

using U64Array = py::array_t<std::uint64_t, py::array::c_style>;
using U32Array = py::array_t<std::uint32_t, py::array::c_style>;

U64Array sample_field(py::bytes randomness, std::size_t max_out) {
  const std::string_view rnd = randomness;
  std::vector<std::uint64_t> tmp(std::min(max_out, rnd.size() / 8));
  std::size_t n;
  {
    py::gil_scoped_release release;
    n = sh::sample_field_elements(reinterpret_cast<const std::uint8_t*>(rnd.data()), rnd.size(),
                                  tmp.data(), tmp.size());
  }
  U64Array out(static_cast<py::ssize_t>(n));
  std::copy(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(n), out.mutable_data());
  return out;
}

U64Array split(py::bytes secret, std::uint32_t threshold, std::uint32_t num_shares,
               const U64Array& coefficients, bool portable) {
  const std::string_view s = secret;
  if (s.size() != sh::kSecretBytes) throw Error(ErrorCode::kSeed, "secret must be 32 bytes");
  if (threshold < 1 || threshold > num_shares || num_shares > sh::kMaxShares)
    throw Error(ErrorCode::kConfig, "need 1 <= threshold <= num_shares <= 2^20");
  if (coefficients.ndim() != 1 ||
      static_cast<std::size_t>(coefficients.size()) != (threshold - 1) * sh::kChunks)
    throw Error(ErrorCode::kShape, "coefficients must be a 1-D array of (threshold - 1) * 8 values");
  U64Array out({static_cast<py::ssize_t>(num_shares), static_cast<py::ssize_t>(sh::kChunks)});
  const std::uint64_t* coef = coefficients.data();
  std::uint64_t* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    sh::split(reinterpret_cast<const std::uint8_t*>(s.data()), threshold, num_shares, coef, dst,
              portable ? sh::SplitImpl::kPortable : sh::SplitImpl::kAuto);
  }
  return out;
}

std::array<std::uint64_t, sh::kCheckPoints> check_points_of(const U64Array& check_points) {
  if (check_points.ndim() != 1 || static_cast<std::size_t>(check_points.size()) != sh::kCheckPoints)
    throw Error(ErrorCode::kShape, "check_points must be a 1-D array of SHAMIR_CHECK_POINTS entries");
  std::array<std::uint64_t, sh::kCheckPoints> rho{};
  std::copy(check_points.data(), check_points.data() + sh::kCheckPoints, rho.begin());
  return rho;
}

// Flat shares (all groups back to back): idx/ptr per share, off[g]..off[g+1] the shares of group g.
// Groups whose pre-status is nonzero are not reconstructed and keep that status.
struct Flat {
  std::vector<std::uint32_t> idx;
  std::vector<const std::uint8_t*> ptr;
  std::vector<std::uint64_t> off{0};
  std::vector<std::uint32_t> thr;
  std::vector<std::int32_t> pre;
};

py::tuple run_combine(const Flat& f, const std::array<std::uint64_t, sh::kCheckPoints>& rho) {
  const std::size_t num_groups = f.thr.size();
  std::vector<sh::GroupView> groups(num_groups);
  for (std::size_t g = 0; g < num_groups; ++g)
    groups[g] = {f.idx.data() + f.off[g], f.ptr.data() + f.off[g], f.off[g + 1] - f.off[g], f.thr[g]};
  std::vector<std::uint8_t> secrets(num_groups * sh::kSecretBytes);
  std::vector<sh::Status> status(num_groups);
  {
    py::gil_scoped_release release;
    sh::combine_many(groups.data(), num_groups, rho, secrets.data(), status.data());
  }
  py::array_t<std::int32_t> codes(static_cast<py::ssize_t>(num_groups));
  auto* c = codes.mutable_data();
  for (std::size_t g = 0; g < num_groups; ++g) {
    c[g] = f.pre[g] != 0 ? f.pre[g] : static_cast<std::int32_t>(status[g]);
    if (c[g] != 0) std::fill_n(secrets.begin() + static_cast<std::ptrdiff_t>(g * sh::kSecretBytes),
                               sh::kSecretBytes, std::uint8_t{0});
  }
  return py::make_tuple(py::bytes(reinterpret_cast<const char*>(secrets.data()), secrets.size()),
                        codes);
}

// An int attribute as uint32, 0 when it is not an int in 0..2^32-1 (the core rejects 0).
std::uint32_t as_u32(PyObject* o) {
  if (!PyLong_Check(o)) return 0;
  const unsigned long long v = PyLong_AsUnsignedLongLong(o);
  if (PyErr_Occurred()) {
    PyErr_Clear();
    return 0;
  }
  return v > 0xFFFFFFFFull ? 0u : static_cast<std::uint32_t>(v);
}

// indices/values: flat sequences of ints and 64-byte bytes; copied into tuples so the bytes stay
// alive and unchanged while the GIL is released.
py::tuple combine_many(const py::sequence& indices, const U64Array& offsets, const U32Array& thresholds,
                       const py::sequence& values, const U64Array& check_points) {
  const auto rho = check_points_of(check_points);
  const auto num_groups = static_cast<std::size_t>(thresholds.size());
  const py::tuple idx_t(indices), val_t(values);
  const auto total = static_cast<std::size_t>(idx_t.size());
  if (offsets.ndim() != 1 || thresholds.ndim() != 1)
    throw Error(ErrorCode::kShape, "offsets and thresholds must be 1-D");
  if (static_cast<std::size_t>(offsets.size()) != num_groups + 1)
    throw Error(ErrorCode::kShape, "offsets must have len(thresholds) + 1 entries");
  if (static_cast<std::size_t>(val_t.size()) != total)
    throw Error(ErrorCode::kShape, "indices and values must have the same length");
  const std::uint64_t* off = offsets.data();
  if (off[0] != 0 || off[num_groups] != total)
    throw Error(ErrorCode::kShape, "offsets must start at 0 and end at len(indices)");
  for (std::size_t g = 0; g < num_groups; ++g)
    if (off[g + 1] < off[g]) throw Error(ErrorCode::kShape, "offsets must be non-decreasing");

  Flat f;
  f.idx.resize(total);
  f.ptr.resize(total);
  for (std::size_t i = 0; i < total; ++i) {
    PyObject* o = PyTuple_GET_ITEM(idx_t.ptr(), static_cast<py::ssize_t>(i));
    if (!PyLong_Check(o)) throw Error(ErrorCode::kDType, "indices must be ints");
    f.idx[i] = as_u32(o);
    PyObject* b = PyTuple_GET_ITEM(val_t.ptr(), static_cast<py::ssize_t>(i));
    if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) != static_cast<py::ssize_t>(sh::kValueBytes))
      throw Error(ErrorCode::kShape, "values must be bytes of length 64");
    f.ptr[i] = reinterpret_cast<const std::uint8_t*>(PyBytes_AS_STRING(b));
  }
  f.off.assign(off, off + num_groups + 1);
  f.thr.assign(thresholds.data(), thresholds.data() + num_groups);
  f.pre.assign(num_groups, 0);
  return run_combine(f, rho);
}

// Statuses found while reading Share objects (negative: never collide with sh::Status).
enum GatherStatus : std::int32_t {
  kNotASequence = -1,    // a group is not a sequence (or is str/bytes)
  kEmpty = -2,           // a group has no shares
  kNotAShare = -3,       // an element is not a Share
  kMixedSplit = -4,      // split_id differs within the group
  kMixedThreshold = -5,  // threshold differs within the group
  kMalformed = -6,       // a Share field has the wrong type or size
};

// New reference to o.name; nullptr (error cleared) when the attribute is missing or unreadable.
py::object get_attr(PyObject* o, PyObject* name) {
  PyObject* r = PyObject_GetAttr(o, name);
  if (r == nullptr) {
    if (!PyErr_ExceptionMatches(PyExc_AttributeError) && !PyErr_ExceptionMatches(PyExc_TypeError))
      throw py::error_already_set();
    PyErr_Clear();
  }
  return py::reinterpret_steal<py::object>(r);
}

// A group as a fast sequence (a new reference in `fast`): 0, or kNotASequence / kEmpty.
std::int32_t open_group(PyObject* grp, py::object& fast) {
  if (PyUnicode_Check(grp) || PyBytes_Check(grp) || PyByteArray_Check(grp) || !PySequence_Check(grp))
    return kNotASequence;
  fast = py::reinterpret_steal<py::object>(PySequence_Fast(grp, "not a sequence"));
  if (!fast) throw py::error_already_set();
  return PySequence_Fast_GET_SIZE(fast.ptr()) == 0 ? kEmpty : 0;
}

// Appends the shares of one group to f (index, value pointer) and keeps the value objects alive.
std::int32_t gather_group(PyObject* grp, PyObject* share_type, Flat& f, std::vector<py::object>& keep,
                          std::uint32_t& threshold) {
  static PyObject* const k_index = PyUnicode_InternFromString("index");  // leaked on purpose
  static PyObject* const k_threshold = PyUnicode_InternFromString("threshold");
  static PyObject* const k_split_id = PyUnicode_InternFromString("split_id");
  static PyObject* const k_value = PyUnicode_InternFromString("value");
  py::object fast;
  if (const std::int32_t st = open_group(grp, fast)) return st;
  const py::ssize_t m = PySequence_Fast_GET_SIZE(fast.ptr());
  PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
  py::object sid0;
  bool mixed_split = false, mixed_threshold = false;
  for (py::ssize_t i = 0; i < m; ++i) {
    PyObject* o = items[i];
    if (Py_TYPE(o) != reinterpret_cast<PyTypeObject*>(share_type)) {
      const int r = PyObject_IsInstance(o, share_type);
      if (r < 0) throw py::error_already_set();
      if (r == 0) return kNotAShare;
    }
    const py::object index = get_attr(o, k_index), thr = get_attr(o, k_threshold),
                     sid = get_attr(o, k_split_id), value = get_attr(o, k_value);
    if (!index || !thr || !sid || !value || !PyLong_Check(index.ptr()) || !PyLong_Check(thr.ptr()) ||
        !PyBytes_Check(sid.ptr()) || !PyBytes_Check(value.ptr()) ||
        PyBytes_GET_SIZE(value.ptr()) != static_cast<py::ssize_t>(sh::kValueBytes))
      return kMalformed;
    const std::uint32_t t = as_u32(thr.ptr());
    if (i == 0) {
      threshold = t;
      sid0 = sid;
    } else {
      mixed_threshold |= t != threshold;
      mixed_split |= sid.ptr() != sid0.ptr() &&
                     (PyBytes_GET_SIZE(sid.ptr()) != PyBytes_GET_SIZE(sid0.ptr()) ||
                      std::memcmp(PyBytes_AS_STRING(sid.ptr()), PyBytes_AS_STRING(sid0.ptr()),
                                  static_cast<std::size_t>(PyBytes_GET_SIZE(sid.ptr()))) != 0);
    }
    f.idx.push_back(as_u32(index.ptr()));
    f.ptr.push_back(reinterpret_cast<const std::uint8_t*>(PyBytes_AS_STRING(value.ptr())));
    keep.push_back(value);
  }
  if (mixed_split) return kMixedSplit;
  if (mixed_threshold) return kMixedThreshold;
  return 0;
}

// Gathers every group with gather(group, f, keep, threshold) -> status, then combines them. A group
// whose status is nonzero keeps it and contributes no shares; `keep` holds the Python objects whose
// bytes f points into, alive until we return.
template <class Gather>
py::tuple gather_and_combine(const py::sequence& groups, const U64Array& check_points, Gather gather) {
  const auto rho = check_points_of(check_points);
  const py::tuple gt(groups);
  const auto num_groups = static_cast<std::size_t>(gt.size());
  Flat f;
  f.thr.assign(num_groups, 0);
  f.pre.assign(num_groups, 0);
  std::vector<py::object> keep;
  for (std::size_t g = 0; g < num_groups; ++g) {
    const std::size_t start = f.idx.size();
    const std::int32_t st = gather(PyTuple_GET_ITEM(gt.ptr(), static_cast<py::ssize_t>(g)), f, keep, f.thr[g]);
    if (st != 0) {
      f.pre[g] = st;
      f.idx.resize(start);
      f.ptr.resize(start);
    }
    f.off.push_back(f.idx.size());
  }
  return run_combine(f, rho);
}

// groups: a sequence of sequences of share_type objects (fields index, threshold, split_id, value).
py::tuple combine_shares(const py::sequence& groups, const py::type& share_type,
                         const U64Array& check_points) {
  return gather_and_combine(groups, check_points,
                            [&](PyObject* grp, Flat& f, std::vector<py::object>& keep, std::uint32_t& t) {
                              return gather_group(grp, share_type.ptr(), f, keep, t);
                            });
}

// Encoded shares (secagg/core/shamir.py, Share.to_bytes): version u8 | index u32 LE | threshold u32
// LE | split_id (16 bytes) | value (kValueBytes). Layout fixed by the Python format version.
constexpr std::size_t kEncodedHeader = 1 + 4 + 4 + 16;
constexpr std::size_t kEncodedBytes = kEncodedHeader + sh::kValueBytes;

std::uint32_t read_u32le(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// Appends one group of encoded shares to f; the bytes objects stay alive through `keep`.
std::int32_t gather_encoded(PyObject* grp, std::uint8_t version, Flat& f, std::vector<py::object>& keep,
                            std::uint32_t& threshold) {
  py::object fast;
  if (const std::int32_t st = open_group(grp, fast)) return st;
  const py::ssize_t m = PySequence_Fast_GET_SIZE(fast.ptr());
  PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
  const std::uint8_t* first = nullptr;
  bool mixed_split = false, mixed_threshold = false;
  for (py::ssize_t i = 0; i < m; ++i) {
    PyObject* o = items[i];
    if (!PyBytes_Check(o) || PyBytes_GET_SIZE(o) != static_cast<py::ssize_t>(kEncodedBytes)) return kMalformed;
    const auto* p = reinterpret_cast<const std::uint8_t*>(PyBytes_AS_STRING(o));
    if (p[0] != version) return kMalformed;
    const std::uint32_t t = read_u32le(p + 5), index = read_u32le(p + 1);
    // what Share.from_bytes refuses comes before how the shares fit together
    if (t == 0 || t > sh::kMaxShares) return static_cast<std::int32_t>(sh::Status::kBadThreshold);
    if (index == 0 || index > sh::kMaxShares) return static_cast<std::int32_t>(sh::Status::kBadIndex);
    for (std::size_t w = 0; w < sh::kChunks; ++w) {
      std::uint64_t word;
      std::memcpy(&word, p + kEncodedHeader + 8 * w, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      word = __builtin_bswap64(word);
#endif
      if (word >= sh::kPrime) return static_cast<std::int32_t>(sh::Status::kValueOutOfRange);
    }
    if (i == 0) {
      threshold = t;
      first = p;
    } else {
      mixed_threshold |= t != threshold;
      mixed_split |= std::memcmp(p + 9, first + 9, 16) != 0;
    }
    f.idx.push_back(index);
    f.ptr.push_back(p + kEncodedHeader);
  }
  keep.push_back(std::move(fast));  // holds references to every item
  if (mixed_split) return kMixedSplit;
  if (mixed_threshold) return kMixedThreshold;
  return 0;
}

// groups: a sequence of sequences of encoded shares (bytes); statuses as for combine_shares.
py::tuple combine_encoded(const py::sequence& groups, std::uint8_t version, const U64Array& check_points) {
  return gather_and_combine(groups, check_points,
                            [version](PyObject* grp, Flat& f, std::vector<py::object>& keep, std::uint32_t& t) {
                              return gather_encoded(grp, version, f, keep, t);
                            });
}

}  // namespace

namespace secagg_bindings {

void register_shamir(py::module_& m) {
  m.attr("SHAMIR_PRIME") = py::int_(sh::kPrime);
  m.attr("SHAMIR_MAX_SHARES") = py::int_(sh::kMaxShares);
  m.attr("SHAMIR_CHECK_POINTS") = py::int_(sh::kCheckPoints);
  m.def("shamir_sample_field", &sample_field, py::arg("randomness"), py::arg("max_out"),
        "Rejection-sample up to max_out uniform elements of GF(2^61-1) from 8-byte LE words.");
  m.def("shamir_split", &split, py::arg("secret"), py::arg("threshold"), py::arg("num_shares"),
        py::arg("coefficients"), py::kw_only(), py::arg("portable") = false,
        "Evaluate the 8 chunk polynomials at x = 1..num_shares; returns uint64 (num_shares, 8).\n"
        "portable=True forces the plain C++ loop instead of the AVX2 one (same output).");
  m.def("shamir_combine_many", &combine_many, py::arg("indices"), py::arg("offsets"),
        py::arg("thresholds"), py::arg("values"), py::arg("check_points"),
        "Reconstruct groups of flat (index, value) shares; returns (secrets, int32 status per group).");
  m.def("shamir_combine_shares", &combine_shares, py::arg("groups"), py::arg("share_type"),
        py::arg("check_points"),
        "Reconstruct groups of Share objects; returns (secrets, int32 status per group). Negative\n"
        "statuses: -1 not a sequence, -2 empty, -3 not a share_type, -4 mixed split_id,\n"
        "-5 mixed threshold, -6 malformed fields.");
  m.def("shamir_combine_encoded", &combine_encoded, py::arg("groups"), py::arg("version"),
        py::arg("check_points"),
        "Reconstruct groups of encoded shares (bytes, Share.to_bytes layout); returns (secrets, int32\n"
        "status per group), statuses as for shamir_combine_shares (-6: wrong length or version).");
  m.def("shamir_status_message",
        [](std::int32_t code) { return std::string(sh::status_message(static_cast<sh::Status>(code))); },
        py::arg("code"), "Human-readable message for a combine status code.");
}

}  // namespace secagg_bindings
