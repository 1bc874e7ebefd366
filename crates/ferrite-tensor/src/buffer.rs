//! Recycling of large tensor buffers.
//!
//! A training step allocates and frees the same few large buffers (activations, gradients,
//! im2col columns) every time. The system allocator hands large blocks back to the operating
//! system when they are freed, so each new step pays again for fresh pages: one page fault per
//! 4 KiB, which measured as more time than the arithmetic in a small CNN. Like PyTorch's
//! caching allocator, ferrite keeps freed buffers of at least [`MIN_POOLED_BYTES`] in a small
//! cache (at most [`MAX_POOLED`] buffers, [`MAX_POOLED_BYTES`] in all) and reuses them for the
//! next tensor of a similar size. It changes no result, only where memory comes from.
//! [`empty_cache`] hands the cached memory back.
//!
//! ```
//! use ferrite_tensor::{buffer, Tensor};
//! let t = Tensor::<f32>::zeros(&[512, 512]);
//! drop(t); // its 1 MiB buffer is cached...
//! assert!(buffer::cached_bytes() > 0 || cfg!(miri));
//! buffer::empty_cache(); // ...until the cache is emptied
//! ```

use std::any::{Any, TypeId};
use std::sync::Mutex;

/// Buffers smaller than this are left to the system allocator (which serves them well).
pub const MIN_POOLED_BYTES: usize = 64 * 1024;
/// At most this many buffers are cached.
pub const MAX_POOLED: usize = 64;
/// At most this many bytes are cached.
pub const MAX_POOLED_BYTES: usize = 512 * 1024 * 1024;

/// The cached buffers of one element type (stored behind `dyn Any`, keyed by type).
struct FreeList {
    kind: TypeId,
    /// Bytes of each cached buffer, oldest first.
    bytes_each: Vec<usize>,
    /// A `Vec<Vec<T>>` for the `T` of `kind`, oldest first.
    buffers: Box<dyn Any + Send>,
    /// Drops the oldest buffer of `buffers`.
    drop_oldest: fn(&mut (dyn Any + Send)),
}

fn drop_oldest<T: 'static>(buffers: &mut (dyn Any + Send)) {
    buffers
        .downcast_mut::<Vec<Vec<T>>>()
        .expect("free list of its own type")
        .remove(0);
}

struct Cache {
    lists: Vec<FreeList>,
    bytes: usize,
    count: usize,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    lists: Vec::new(),
    bytes: 0,
    count: 0,
});

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    // A panic while the lock is held leaves the cache consistent (each critical section
    // pushes or removes one buffer and its size together), so poisoning is ignored.
    CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A cached buffer of at least `len` and at most `2 * len` elements, as it was freed (its
/// length and contents unchanged), if one is free.
fn take_cached<T: Copy + Send + 'static>(len: usize) -> Option<Vec<T>> {
    let bytes = len.saturating_mul(size_of::<T>());
    if bytes < MIN_POOLED_BYTES {
        return None;
    }
    let mut guard = cache();
    let cache = &mut *guard;
    let list = cache
        .lists
        .iter_mut()
        .find(|l| l.kind == TypeId::of::<T>())?;
    let buffers = list
        .buffers
        .downcast_mut::<Vec<Vec<T>>>()
        .expect("free list of its own type");
    // The smallest buffer that fits, searching from the most recently freed.
    let (i, _) = buffers
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| b.capacity() >= len && b.capacity() / 2 <= len)
        .min_by_key(|(_, b)| b.capacity())?;
    let buf = buffers.remove(i);
    cache.bytes -= list.bytes_each.remove(i);
    cache.count -= 1;
    Some(buf)
}

/// An empty vector with room for at least `len` elements, reusing a cached buffer when one
/// of a suitable size (at least `len`, at most twice that) is free.
///
/// ```
/// let v: Vec<f32> = ferrite_tensor::buffer::with_capacity(100_000);
/// assert!(v.is_empty() && v.capacity() >= 100_000);
/// ```
pub fn with_capacity<T: Copy + Send + 'static>(len: usize) -> Vec<T> {
    match take_cached(len) {
        Some(mut buf) => {
            buf.clear();
            buf
        }
        None => Vec::with_capacity(len),
    }
}

/// `len` elements of unspecified value (zeros, or what a recycled buffer held), for a
/// buffer the caller overwrites entirely: unlike [`zeros`], a recycled buffer is not
/// written first.
///
/// ```
/// let v: Vec<f32> = ferrite_tensor::buffer::for_overwrite(10);
/// assert_eq!(v.len(), 10);
/// ```
pub fn for_overwrite<T: Copy + Send + num_traits::Zero + 'static>(len: usize) -> Vec<T> {
    let Some(mut v) = take_cached(len) else {
        // `vec!` of zeros asks the allocator for zeroed memory, which fresh pages already
        // are: no pass over the buffer (where `resize` would write every element).
        return vec![T::zero(); len];
    };
    v.truncate(len);
    v.resize(len, T::zero());
    v
}

/// `len` zeros, in a recycled buffer when possible.
///
/// ```
/// let v: Vec<f64> = ferrite_tensor::buffer::zeros(3);
/// assert_eq!(v, vec![0.0; 3]);
/// ```
pub fn zeros<T: Copy + Send + num_traits::Zero + 'static>(len: usize) -> Vec<T> {
    let mut v = with_capacity(len);
    v.resize(len, T::zero());
    v
}

/// The items of `iter` (`len` of them expected), in a recycled buffer when possible.
///
/// ```
/// let v: Vec<f32> = ferrite_tensor::buffer::collect(3, (0..3).map(|i| i as f32));
/// assert_eq!(v, vec![0.0, 1.0, 2.0]);
/// ```
pub fn collect<T: Copy + Send + 'static>(len: usize, iter: impl Iterator<Item = T>) -> Vec<T> {
    let mut v = with_capacity(len);
    v.extend(iter);
    v
}

/// Gives a no longer needed buffer back to the cache (or to the system allocator when it is
/// small or the cache is full). Tensors do this by themselves when dropped.
///
/// ```
/// ferrite_tensor::buffer::recycle(vec![0.0f32; 100_000]);
/// ```
pub fn recycle<T: Copy + Send + 'static>(buf: Vec<T>) {
    let bytes = buf.capacity().saturating_mul(size_of::<T>());
    if !(MIN_POOLED_BYTES..=MAX_POOLED_BYTES).contains(&bytes) {
        return;
    }
    let mut guard = cache();
    let cache = &mut *guard;
    // Make room by dropping the oldest buffers (of any type).
    while cache.count >= MAX_POOLED || cache.bytes + bytes > MAX_POOLED_BYTES {
        let Some(list) = cache.lists.iter_mut().find(|l| !l.bytes_each.is_empty()) else {
            break;
        };
        cache.bytes -= list.bytes_each.remove(0);
        (list.drop_oldest)(list.buffers.as_mut());
        cache.count -= 1;
    }
    let index = match cache.lists.iter().position(|l| l.kind == TypeId::of::<T>()) {
        Some(i) => i,
        None => {
            cache.lists.push(FreeList {
                kind: TypeId::of::<T>(),
                bytes_each: Vec::new(),
                buffers: Box::new(Vec::<Vec<T>>::new()),
                drop_oldest: drop_oldest::<T>,
            });
            cache.lists.len() - 1
        }
    };
    let list = &mut cache.lists[index];
    list.buffers
        .downcast_mut::<Vec<Vec<T>>>()
        .expect("free list of its own type")
        .push(buf);
    list.bytes_each.push(bytes);
    cache.bytes += bytes;
    cache.count += 1;
}

/// A scratch vector that goes back to the cache when dropped.
///
/// ```
/// let mut s = ferrite_tensor::buffer::Scratch::<f32>::zeros(4);
/// s[1] = 2.0;
/// assert_eq!(&s[..], &[0.0, 2.0, 0.0, 0.0]);
/// ```
#[derive(Debug)]
pub struct Scratch<T: Copy + Send + 'static>(Vec<T>);

impl<T: Copy + Send + num_traits::Zero + 'static> Scratch<T> {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        Scratch(zeros(len))
    }

    /// `len` elements of unspecified value, to be overwritten (see [`for_overwrite`]).
    pub fn for_overwrite(len: usize) -> Self {
        Scratch(for_overwrite(len))
    }
}

impl<T: Copy + Send + 'static> From<Vec<T>> for Scratch<T> {
    /// Takes `v`, to recycle it when dropped.
    fn from(v: Vec<T>) -> Self {
        Scratch(v)
    }
}

impl<T: Copy + Send + 'static> std::ops::Deref for Scratch<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Copy + Send + 'static> std::ops::DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Copy + Send + 'static> Drop for Scratch<T> {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.0));
    }
}

/// Bytes currently held by the cache of freed buffers.
///
/// ```
/// let _ = ferrite_tensor::buffer::cached_bytes();
/// ```
pub fn cached_bytes() -> usize {
    cache().bytes
}

/// Frees every cached buffer (like `torch.cuda.empty_cache`): the memory goes back to the
/// system allocator. Tensors alive keep theirs.
///
/// ```
/// ferrite_tensor::buffer::empty_cache();
/// assert_eq!(ferrite_tensor::buffer::cached_bytes(), 0);
/// ```
pub fn empty_cache() {
    let mut guard = cache();
    guard.lists.clear();
    guard.bytes = 0;
    guard.count = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_buffer_is_reused_for_a_similar_size() {
        // `i16` buffers: no other test (running in parallel) uses the cache for them.
        let len = 1 << 16;
        let v: Vec<i16> = zeros(len);
        let ptr = v.as_ptr();
        recycle(v);
        let w: Vec<i16> = with_capacity(len - 10);
        assert_eq!(w.as_ptr(), ptr, "the cached buffer is handed out again");
        assert!(w.is_empty());
        // A much smaller request does not take a much larger buffer.
        recycle(w);
        let small: Vec<i16> = with_capacity(len / 4);
        assert_ne!(small.as_ptr(), ptr);
        // Another element type never gets it.
        let other: Vec<u16> = with_capacity(len / 2);
        assert_ne!(other.as_ptr() as *const i16, ptr);
    }

    #[test]
    fn the_cache_stays_within_its_limits() {
        for _ in 0..2 * MAX_POOLED {
            recycle(vec![0u8; MIN_POOLED_BYTES]);
        }
        let c = cache();
        assert!(c.count <= MAX_POOLED && c.bytes <= MAX_POOLED_BYTES);
        assert_eq!(
            c.count,
            c.lists.iter().map(|l| l.bytes_each.len()).sum::<usize>()
        );
    }
}
