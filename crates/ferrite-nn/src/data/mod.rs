//! Data loading: IDX files, the MNIST digits, datasets and a batching [`DataLoader`].
//!
//! The pieces mirror PyTorch's `torch.utils.data` and `torchvision.datasets.MNIST`:
//!
//! * [`read_idx`] / [`parse_idx`] read the IDX format of MNIST (raw or gzip-compressed);
//! * [`Mnist`] is the digit data set, from a directory of the standard files
//!   ([`Mnist::from_dir`]) or from the 10,000-digit subset compiled into this crate
//!   ([`Mnist::embedded`]), with pixels scaled to `[0, 1]` and normalised by [`Normalize`];
//! * [`Dataset`] is the trait of indexable data sets, [`Subset`] a slice of one;
//! * [`DataLoader`] cuts one epoch into [`Batch`]es, shuffled reproducibly from a seed and
//!   the epoch number.
//!
//! ```
//! use ferrite_nn::data::{DataLoader, Mnist, Split};
//! let train = Mnist::embedded(Split::Train)?;
//! assert_eq!(train.len(), 8004);
//! let loader = DataLoader::new(&train).with_batch_size(64).with_shuffle(true).with_seed(7);
//! let batch = loader.epoch(0).next().unwrap()?;
//! assert_eq!(batch.images.shape(), &[64, 1, 28, 28]);
//! assert_eq!(batch.labels.len(), 64);
//! # Ok::<(), ferrite_nn::data::DataError>(())
//! ```
//!
//! # Errors
//! Everything fallible returns [`DataError`]. Malformed files are reported, never panicked
//! on, and a header is checked against the bytes actually present before anything of the
//! size it claims is allocated.

use crate::NnError;

mod cifar;
mod idx;
#[cfg(feature = "image")]
mod image_folder;
mod loader;
mod mnist;
pub mod transforms;

pub use cifar::Cifar10;
pub use idx::{IdxArray, parse_idx, read_idx};
#[cfg(feature = "image")]
pub use image_folder::ImageFolder;
pub use loader::{Batch, DataLoader, Dataset, Epoch, Prefetched, Sample, Subset};
pub use mnist::{Mnist, MnistKind, Normalize, Split};

/// What went wrong while reading or batching data: another name of [`NnError`], so
/// that data sets, loaders and checkpoints share one error type (with
/// [`NnError::Io`], [`NnError::Format`], [`NnError::Missing`] and [`NnError::Invalid`]).
///
/// The message names the file (or the operation) and says what was expected and what was
/// found, e.g.
/// `train-images-idx3-ubyte.gz: expected magic number 0x00000803 (images: unsigned bytes, 3 dimensions), found 0x00000801 (1 dimension)`.
///
/// ```
/// use ferrite_nn::data::{parse_idx, DataError};
/// let err = parse_idx(&[1, 2, 3, 4], "junk.bin").unwrap_err();
/// assert!(matches!(&err, DataError::Format { path, .. } if path == "junk.bin"));
/// assert_eq!(
///     err.to_string(),
///     "junk.bin: expected an IDX magic number 0x000008NN (two zero bytes, type 0x08, \
///      number of dimensions), found 0x01020304"
/// );
/// ```
pub type DataError = NnError;

#[cfg(test)]
pub(crate) mod testutil {
    use std::io::Write;

    /// An IDX file of unsigned bytes with the given dims and data.
    pub(crate) fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    /// `bytes` gzip-compressed.
    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// A fresh empty directory under the system's temporary directory.
    pub(crate) fn temp_dir(tag: &str) -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferrite-nn-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
