//! The one place where matrix products are computed. `matmul`, `linear` and the convolution
//! kernels all call [`gemm()`] (or [`gemm_serial`] from inside their own parallel loops), so a
//! faster GEMM speeds up every one of them.
//!
//! `f32` and `f64` products run on the `gemm` crate (packed, cache-blocked, with AVX2/FMA
//! micro-kernels chosen at run time). It splits the work over rows and columns of the output
//! only, never over the inner dimension, and its blocking depends only on the shapes: every
//! output element is accumulated in the same order whatever the number of threads, so results
//! are bit-identical with 1, 2 or more threads (checked by the tests below).
//!
//! Nor does the order depend on `m` or `n`: the crate's small-product shortcuts (matrix-vector,
//! dot-product and two-term kernels) and its choice of `k` blocking round differently than
//! its main kernels, so [`gemm()`] slices `k` itself and hands the crate padded copies where
//! it would take a shortcut. A row of a product is then the same bits whatever the other
//! rows, which makes `linear` and `matmul` batch-invariant (`tests/batch_invariance.rs`). It
//! costs products with one row their shortcut: a `Linear` layer at batch 1 is about 4x
//! slower than the crate's matrix-vector kernel (`docs/performance.md`).

use std::any::TypeId;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder, s};

use crate::Float;

/// `c = a @ b` (or `c += a @ b` when `accumulate`), for 2-D views of any strides, using the
/// threads of the current rayon pool for large products.
///
/// # Panics
/// When the inner dimensions or the output shape disagree (an internal invariant: callers
/// check user shapes first).
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let b = array![[1.0f32, 0.0], [0.0, 1.0]];
/// let mut c = ndarray::Array2::<f32>::zeros((2, 2));
/// ferrite_tensor::gemm::gemm(a.view(), b.view(), c.view_mut(), false);
/// assert_eq!(c, a);
/// ```
pub fn gemm<T: Float>(a: ArrayView2<T>, b: ArrayView2<T>, c: ArrayViewMut2<T>, accumulate: bool) {
    gemm_with(a, b, c, accumulate, gemm::Parallelism::Rayon(0));
}

/// [`gemm()`] on the calling thread only: for products computed inside a parallel loop (one
/// image of a batch per task), where splitting each product again would only add overhead.
///
/// # Panics
/// As [`gemm()`].
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f64, 2.0]];
/// let b = array![[3.0f64], [4.0]];
/// let mut c = ndarray::Array2::<f64>::from_elem((1, 1), 1.0);
/// ferrite_tensor::gemm::gemm_serial(a.view(), b.view(), c.view_mut(), true);
/// assert_eq!(c[[0, 0]], 12.0);
/// ```
pub fn gemm_serial<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: ArrayViewMut2<T>,
    accumulate: bool,
) {
    gemm_with(a, b, c, accumulate, gemm::Parallelism::None);
}

/// [`gemm_serial`] through whatever kernel the `gemm` crate picks for these shapes (its
/// matrix-vector, dot-product and two-term shortcuts, its own `k` blocking), without the
/// padded copies and `k` slices that make [`gemm()`] batch-invariant. For products whose
/// shapes never involve a batch size, such as a convolution's products of one image, the
/// results are just as batch-invariant (the same shapes take the same path) and the
/// shortcuts are kept: `Conv2d(1, 16, 3)` forward and backward at batch 64 (W1b, whose
/// weight gradient is `[9, 784] x [784, 16]` per image) takes 1.6 ms rather than 2.8 ms
/// through [`gemm_serial`]. Its bits may differ from [`gemm_serial`]'s in the last place.
pub(crate) fn gemm_serial_per_shape<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    c: ArrayViewMut2<T>,
    accumulate: bool,
) {
    let supported = crate_supports::<T>();
    let (m, n) = (a.nrows(), b.ncols());
    if !supported || m == 0 || n == 0 || a.ncols() != b.nrows() || c.dim() != (m, n) {
        // Other types and degenerate or mismatched shapes: the checked path (which panics on
        // mismatched shapes, an internal invariant).
        gemm_serial(a, b, c, accumulate);
        return;
    }
    raw_gemm(a, b, c, accumulate, gemm::Parallelism::None);
}

/// Products whose inner dimension is longer than this are computed as a sum of products over
/// consecutive slices of it, of equal lengths of at most `K_BLOCK`, each added to the output
/// in turn: the `gemm` crate's own blocking does the same, but chooses the slice length from
/// `m` and `n` too (up to 512 when both are at most 64, a cache-derived length otherwise),
/// so a sample's row of a `Linear` output would depend on the batch size. Slices of at most
/// 512 are never split again by the crate; 512 is also the length it picks for large
/// products on the machines measured, so those keep their speed (and their bits).
const K_BLOCK: usize = 512;

/// At most this many output elements, with both operands laid out along the inner dimension,
/// and the `gemm` crate computes the product with dot-product ("horizontal") kernels; the
/// sums are then rounded in another order than by its main kernels.
const HORIZONTAL_MAX: usize = 16 * 16;

fn gemm_with<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "gemm: cannot multiply {:?} by {:?} into {:?}",
        a.dim(),
        b.dim(),
        c.dim()
    );
    let supported = crate_supports::<T>();
    if !supported {
        // `Float` is only implemented for f32 and f64 in this crate; any other type takes the
        // generic (slower) path.
        let beta = if accumulate { T::one() } else { T::zero() };
        ndarray::linalg::general_mat_mul(T::one(), &a, &b, beta, &mut c);
        return;
    }
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        raw_gemm(a, b, c, accumulate, parallelism);
        return;
    }
    // Batch invariance: every output element is accumulated in an order that depends on `k`
    // only, never on `m` or `n` (one of which is the batch size in `linear` and `matmul`):
    // the same slices of `k` (below), each through the crate's main micro-kernels
    // (`main_kernels`). Then a sample's result does not depend on the batch it is in
    // (`tests/batch_invariance.rs`).
    let slices = k.div_ceil(K_BLOCK);
    let len = k.div_ceil(slices);
    for (i, start) in (0..k).step_by(len).enumerate() {
        let end = (start + len).min(k);
        main_kernels(
            a.slice(s![.., start..end]),
            b.slice(s![start..end, ..]),
            c.view_mut(),
            accumulate || i > 0,
            parallelism,
        );
    }
}

/// `c (+)= a @ b` through the `gemm` crate's main, packed micro-kernels, for `k <= 512`.
///
/// Each output element of those is one chain of fused multiply-adds over `k`, added to `c`
/// once at the end, whatever the shapes. But the crate takes other paths for some shapes,
/// which round differently: matrix-vector kernels when `m` or `n` is 1, a two-term kernel
/// when `k <= 2` (adding straight into `c`), dot-product kernels for small outputs
/// (`HORIZONTAL_MAX`). Those shapes are given padded copies instead: rows or columns of zeros
/// up to 2, zero terms up to `k = 3` (which leave every sum as it is), and the smaller
/// operand copied into a layout the dot-product kernels do not take. The copies cost
/// `O(m·k)` or `O(k·n)`, small beside the product except for tiny ones.
fn main_kernels<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let dot_layout = a.strides()[1] == 1 && b.strides()[0] == 1;
    let horizontal = m * n <= HORIZONTAL_MAX && dot_layout;
    if m >= 2 && n >= 2 && k >= 3 && !horizontal {
        raw_gemm(a, b, c, accumulate, parallelism);
        return;
    }
    let (mp, np, kp) = (m.max(2), n.max(2), k.max(3));
    // Column-major `a` (column stride `mp >= 2`) or row-major `b` (row stride `np >= 2`)
    // is not the dot-product layout.
    let copy_a = m < 2 || k < 3 || (horizontal && m <= n);
    let copy_b = n < 2 || k < 3 || (horizontal && !copy_a);
    let mut a_pad = Array2::<T>::zeros((if copy_a { mp } else { 0 }, kp).f());
    let mut b_pad = Array2::<T>::zeros((kp, if copy_b { np } else { 0 }));
    if copy_a {
        a_pad.slice_mut(s![..m, ..k]).assign(&a);
    }
    if copy_b {
        b_pad.slice_mut(s![..k, ..n]).assign(&b);
    }
    let a_used = if copy_a { a_pad.view() } else { a };
    let b_used = if copy_b { b_pad.view() } else { b };
    if mp == m && np == n {
        raw_gemm(a_used, b_used, c, accumulate, parallelism);
        return;
    }
    // Column-major, so that the crate does not transpose the product: `b` (a `Linear`
    // layer's weight, at batch 1) is then read in place rather than packed on every call;
    // the same micro-kernels, the same sums, about 20% faster at batch 1.
    let mut c_pad = Array2::<T>::zeros((mp, np).f());
    if accumulate {
        c_pad.slice_mut(s![..m, ..n]).assign(&c);
    }
    raw_gemm(a_used, b_used, c_pad.view_mut(), accumulate, parallelism);
    c.assign(&c_pad.slice(s![..m, ..n]));
}

/// Whether the `gemm` crate has kernels for `T` (f32 and f64).
fn crate_supports<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f32>() || TypeId::of::<T>() == TypeId::of::<f64>()
}

/// The call into the `gemm` crate, for f32/f64 and non-empty `m`, `n`.
// The crate's only `unsafe` block (the crate denies `unsafe_code` everywhere else).
#[allow(unsafe_code)]
fn raw_gemm<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    mut c: ArrayViewMut2<T>,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    let (a_ptr, b_ptr, c_ptr) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // SAFETY:
    // - `T` is f32 or f64 (checked by `gemm_with`, the only caller), the types `gemm::gemm`
    //   supports.
    // - `a` is an `m x k` view: for every `i < m`, `p < k` the element at
    //   `a_ptr + i * a_rs + p * a_cs` is inside its allocation (that is what a valid ndarray
    //   view with these dims and strides guarantees); likewise `b` (`k x n`) and `c` (`m x n`),
    //   which are exactly the offsets `gemm` reads or writes. When `k == 0` nothing of `a` or
    //   `b` is read.
    // - `c` comes from an `ArrayViewMut2`, a unique borrow: no other live reference (in
    //   particular not `a` or `b`, which are shared borrows) points into it, and a mutable
    //   view never has two indices mapping to the same element, so the writes do not alias.
    // - `read_dst = accumulate`: when false the old contents of `c` are ignored (`alpha` is
    //   unused), when true `c = 1 * c + 1 * a @ b`.
    // - The call returns only after every write is done (its rayon tasks are joined), so the
    //   borrows outlive all accesses.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c_ptr,
            c_cs,
            c_rs,
            accumulate,
            a_ptr,
            a_cs,
            a_rs,
            b_ptr,
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, ShapeBuilder, s};

    use super::*;

    fn lcg(seed: u64, len: usize) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        let (m, k) = a.dim();
        let n = b.ncols();
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum())
    }

    #[test]
    fn matches_a_naive_product_for_every_layout() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 33, 9), (70, 130, 65), (5, 0, 4)] {
            let a = Array2::from_shape_vec((m, k), lcg(1, m * k)).unwrap();
            let b = Array2::from_shape_vec((k, n), lcg(2, k * n)).unwrap();
            let expected = naive(&a, &b);
            // Column-major copies exercise the other strides.
            let a_f = Array2::from_shape_vec((m, k).f(), a.t().iter().copied().collect()).unwrap();
            let b_f = Array2::from_shape_vec((k, n).f(), b.t().iter().copied().collect()).unwrap();
            for (av, bv) in [(a.view(), b.view()), (a_f.view(), b_f.view())] {
                let mut c = Array2::from_elem((m, n), f64::NAN);
                gemm(av, bv, c.view_mut(), false);
                let err = (&c - &expected).iter().fold(0.0f64, |e, v| e.max(v.abs()));
                assert!(err < 1e-12, "{m}x{k}x{n}: {err}");
                let mut acc = Array2::from_elem((m, n), 1.0);
                gemm_serial(av, bv, acc.view_mut(), true);
                let err = (&acc - &expected)
                    .iter()
                    .fold(0.0f64, |e, v| e.max((v - 1.0).abs()));
                assert!(err < 1e-12, "{m}x{k}x{n} accumulate: {err}");
            }
            let mut ct = Array2::from_elem((n, m), f64::NAN);
            gemm(b.t(), a.t(), ct.view_mut(), false);
            let err = (&ct.t() - &expected)
                .iter()
                .fold(0.0f64, |e, v| e.max(v.abs()));
            assert!(err < 1e-12, "{m}x{k}x{n} transposed: {err}");
        }
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        let (m, k, n) = (300, 700, 260);
        let a: Vec<f32> = lcg(3, m * k).into_iter().map(|v| v as f32).collect();
        let b: Vec<f32> = lcg(4, k * n).into_iter().map(|v| v as f32).collect();
        let a = Array2::from_shape_vec((m, k), a).unwrap();
        let b = Array2::from_shape_vec((k, n), b).unwrap();
        let run = |threads: usize, transposed: bool| {
            crate::parallel::with_threads(threads, || {
                let mut c = Array2::<f32>::zeros((m, n));
                if transposed {
                    let mut ct = Array2::<f32>::zeros((n, m));
                    gemm(b.t(), a.t(), ct.view_mut(), false);
                    c.assign(&ct.t());
                } else {
                    gemm(a.view(), b.view(), c.view_mut(), false);
                }
                c
            })
        };
        for transposed in [false, true] {
            let one = run(1, transposed);
            let serial = {
                let mut c = Array2::<f32>::zeros((m, n));
                if transposed {
                    let mut ct = Array2::<f32>::zeros((n, m));
                    gemm_serial(b.t(), a.t(), ct.view_mut(), false);
                    c.assign(&ct.t());
                } else {
                    gemm_serial(a.view(), b.view(), c.view_mut(), false);
                }
                c
            };
            assert_eq!(one, serial);
            for threads in [2, 3, 4] {
                assert_eq!(one, run(threads, transposed), "{threads} threads");
            }
        }
    }

    #[test]
    fn a_row_does_not_depend_on_the_other_rows() {
        // Row 0 of `a[..m] @ b` (and of `b.t() @ a[..m].t()`, column 0) must be the same bits
        // for every `m`: what makes `linear` and `matmul` batch-invariant.
        for &k in &[1, 2, 3, 100, 513, 1568] {
            for &n in &[1, 5, 128] {
                let a = Array2::from_shape_vec((300, k), lcg(5, 300 * k)).unwrap();
                let w = Array2::from_shape_vec((n, k), lcg(6, n * k)).unwrap();
                let row = |m: usize, accumulate: bool| {
                    let mut c = Array2::from_elem((m, n), 0.5);
                    gemm(a.slice(s![..m, ..]), w.t(), c.view_mut(), accumulate);
                    let mut ct = Array2::from_elem((n, m), 0.5);
                    gemm(
                        w.view(),
                        a.slice(s![..m, ..]).t(),
                        ct.view_mut(),
                        accumulate,
                    );
                    assert_eq!(c.t(), ct, "k {k}, n {n}, m {m}: transposed product differs");
                    c.row(0).to_vec()
                };
                for accumulate in [false, true] {
                    let alone = row(1, accumulate);
                    for m in [2, 3, 7, 64, 65, 300] {
                        assert!(alone == row(m, accumulate), "k {k}, n {n}, m {m}");
                    }
                }
            }
        }
    }
}
