//! Elementwise and row kernels over contiguous slices, split over rayon's threads when
//! large.
//!
//! Each output element depends on its inputs only, so the split cannot change a result; the
//! chunk size is fixed anyway. Small slices stay on the calling thread, where a task would
//! cost more than it saves.

use rayon::prelude::*;

use crate::buffer;

/// Below this many elements an elementwise kernel runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 16;
/// Elements per task above it (and of every fixed-chunk split of this crate's kernels).
pub(crate) const CHUNK: usize = 1 << 14;

/// `f(x)` for every `x` of `src`, in a recycled buffer.
pub(crate) fn map<T, F>(src: &[T], f: F) -> Vec<T>
where
    T: Copy + Send + Sync + num_traits::Zero + 'static,
    F: Fn(T) -> T + Sync + Send,
{
    if src.len() < PARALLEL_MIN {
        return buffer::collect(src.len(), src.iter().map(|&x| f(x)));
    }
    let mut out = buffer::for_overwrite(src.len());
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, s)| {
            for (o, &x) in o.iter_mut().zip(s) {
                *o = f(x);
            }
        });
    out
}

/// `f(x, y)` for every pair of `a` and `b` (of equal lengths), in a recycled buffer.
pub(crate) fn zip<T, F>(a: &[T], b: &[T], f: F) -> Vec<T>
where
    T: Copy + Send + Sync + num_traits::Zero + 'static,
    F: Fn(T, T) -> T + Sync + Send,
{
    debug_assert_eq!(a.len(), b.len());
    if a.len() < PARALLEL_MIN {
        return buffer::collect(a.len(), a.iter().zip(b).map(|(&x, &y)| f(x, y)));
    }
    let mut out = buffer::for_overwrite(a.len());
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        });
    out
}

/// `out[i] = f(i, a[i], b[i])` for every index (slices of equal lengths): [`zip`] with the
/// position given and an output of any type, written in place. Chunks of [`CHUNK`] go to
/// rayon's threads when there are several.
pub(crate) fn zip_indexed_into<T, U, F>(a: &[T], b: &[T], out: &mut [U], f: F)
where
    T: Copy + Sync,
    U: Send,
    F: Fn(usize, T, T) -> U + Sync + Send,
{
    debug_assert!(a.len() == out.len() && b.len() == out.len());
    let run = |start: usize, out: &mut [U], a: &[T], b: &[T]| {
        for (j, ((o, &x), &y)) in out.iter_mut().zip(a).zip(b).enumerate() {
            *o = f(start + j, x, y);
        }
    };
    if out.len() <= CHUNK {
        return run(0, out, a, b);
    }
    out.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .enumerate()
        .for_each(|(k, (o, (x, y)))| run(k * CHUNK, o, x, y));
}

/// [`zip_indexed_into`] with two outputs: `(out.0[i], out.1[i]) = f(i, a[i], b[i])`.
pub(crate) fn zip_indexed_into2<T, F>(a: &[T], b: &[T], out: (&mut [T], &mut [T]), f: F)
where
    T: Copy + Send + Sync,
    F: Fn(usize, T, T) -> (T, T) + Sync + Send,
{
    let (p, q) = out;
    debug_assert!(a.len() == p.len() && b.len() == p.len() && q.len() == p.len());
    let run = |start: usize, p: &mut [T], q: &mut [T], a: &[T], b: &[T]| {
        let outs = p.iter_mut().zip(q.iter_mut());
        for (j, ((p, q), (&x, &y))) in outs.zip(a.iter().zip(b)).enumerate() {
            (*p, *q) = f(start + j, x, y);
        }
    };
    if p.len() <= CHUNK {
        return run(0, p, q, a, b);
    }
    let outs = p.par_chunks_mut(CHUNK).zip(q.par_chunks_mut(CHUNK));
    outs.zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .enumerate()
        .for_each(|(k, ((p, q), (x, y)))| run(k * CHUNK, p, q, x, y));
}

/// Elements of work per task of [`rows_mut`] (rounded to whole rows, at least one).
const ROW_BLOCK: usize = 1 << 13;

/// `f(i, row)` for every row `i` of `len` elements of `out` (a whole number of rows), with
/// the results in row order; `work` is the number of elements a row's kernel reads (`len`
/// when it maps a row onto a row). Blocks of a fixed number of rows go to rayon's threads
/// when there are several: each row is computed alone, so no result depends on the split.
pub(crate) fn rows_mut<T, R, F>(out: &mut [T], len: usize, work: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, &mut [T]) -> R + Sync + Send,
{
    if len == 0 {
        return Vec::new();
    }
    debug_assert_eq!(out.len() % len, 0);
    let block = (ROW_BLOCK / work.max(1)).max(1) * len;
    let run = |start: usize, rows: &mut [T]| -> Vec<R> {
        let rows = rows.chunks_exact_mut(len).enumerate();
        rows.map(|(k, row)| f(start + k, row)).collect()
    };
    if out.len() <= block {
        return run(0, out);
    }
    let per_block = block / len;
    let parts: Vec<Vec<R>> = out
        .par_chunks_mut(block)
        .enumerate()
        .map(|(b, rows)| run(b * per_block, rows))
        .collect();
    parts.into_iter().flatten().collect()
}

/// Runs `f` on a pool of `threads` threads: for the tests that results do not depend on
/// the number of threads.
#[cfg(test)]
pub(crate) fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_slices_give_the_same_elements() {
        for n in [0, 5, PARALLEL_MIN - 1, PARALLEL_MIN + CHUNK + 3] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 7.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
            let m = map(&a, |x| x * 2.0);
            assert_eq!(m, a.iter().map(|x| x * 2.0).collect::<Vec<_>>());
            let z = zip(&a, &b, |x, y| x - y);
            let expected: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            assert_eq!(z, expected);
        }
    }

    #[test]
    fn indexed_zips_see_every_position_once() {
        for n in [0, 5, CHUNK, 3 * CHUNK + 7] {
            let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let b: Vec<f64> = (0..n).map(|i| 2.0 * i as f64).collect();
            let mut out = vec![(0, 0.0); n];
            zip_indexed_into(&a, &b, &mut out, |i, x, y| (i, x + y));
            assert!(
                out.iter()
                    .enumerate()
                    .all(|(i, &o)| o == (i, 3.0 * i as f64))
            );
            let (mut p, mut q) = (vec![0.0; n], vec![0.0; n]);
            zip_indexed_into2(&a, &b, (&mut p, &mut q), |i, x, y| (x * y, i as f64));
            assert!(p.iter().zip(&a).all(|(p, x)| *p == 2.0 * x * x));
            assert!(q.iter().enumerate().all(|(i, &v)| v == i as f64));
        }
    }

    #[test]
    fn rows_mut_visits_every_row_once_in_order() {
        for (rows, len) in [(0, 3), (1, 5), (7, 1000), (40, 1000), (3, ROW_BLOCK + 1)] {
            let mut out = vec![0usize; rows * len];
            let got = rows_mut(&mut out, len, len, |i, row| {
                row.iter_mut().for_each(|v| *v = i);
                i
            });
            assert_eq!(got, (0..rows).collect::<Vec<_>>());
            assert!(
                out.chunks(len)
                    .enumerate()
                    .all(|(i, r)| r.iter().all(|&v| v == i))
            );
        }
        assert!(rows_mut(&mut [0.0f32; 0], 0, 0, |_, _| ()).is_empty());
        let mut sums = vec![0usize; 300];
        rows_mut(&mut sums, 1, 1000, |i, s| s[0] = i);
        assert_eq!(sums, (0..300).collect::<Vec<_>>());
    }
}
