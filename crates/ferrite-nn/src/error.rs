//! [`NnError`]: the error type of the fallible operations of this crate that are not pure
//! tensor maths (checkpoints, state dicts, file formats, data sets and loaders).

use std::path::PathBuf;

use ferrite_tensor::TensorError;

use crate::checkpoint::LoadReport;

/// What went wrong while saving, loading or applying parameters, or reading and batching
/// data. [`crate::data::DataError`] is another name of this type: one file error story for
/// checkpoints and data sets alike.
///
/// Every message says where (a file, or `load_state_dict`) and what was expected and found,
/// e.g. `model.ckpt: not a ferrite checkpoint (expected the magic bytes "FERRITE\0", found
/// "PK\x03\x04...")` or `load_state_dict: checkpoint does not fit the model: missing keys
/// [fc3.weight]`.
///
/// ```
/// use ferrite_nn::NnError;
/// use ferrite_nn::checkpoint::Checkpoint;
/// let err = Checkpoint::<f32>::from_bytes(b"not a checkpoint at all", "junk.bin").unwrap_err();
/// assert!(matches!(&err, NnError::Format { path, .. } if path == "junk.bin"));
/// assert!(err.to_string().starts_with("junk.bin: not a ferrite checkpoint"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A tensor operation failed (a shape that does not fit, an invalid argument).
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A file could not be read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file's (or buffer's) contents are not what its format requires: wrong magic bytes,
    /// another format version, truncated, corrupt, or inconsistent.
    #[error("{path}: {message}")]
    Format {
        /// The file's path, or the name given to an in-memory reader.
        path: String,
        /// What was expected and what was found.
        message: String,
    },
    /// None of the file names a data set looks for exists in a directory.
    #[error(
        "{}: no {what} found (looked for {})",
        dir.display(),
        looked_for.join(" and ")
    )]
    Missing {
        /// The directory searched.
        dir: PathBuf,
        /// What was looked for, e.g. `"MNIST train images"`.
        what: &'static str,
        /// The file names tried, in order.
        looked_for: Vec<String>,
    },
    /// An argument is out of range or inconsistent (an index, a batch size, a shape, a
    /// transform's parameter).
    #[error("{op}: {message}")]
    Invalid {
        /// The operation that refused its arguments.
        op: &'static str,
        /// What was expected and what was found.
        message: String,
    },
    /// A state dict does not fit a model (missing, unexpected or wrong-shape keys), or
    /// cannot be applied to it.
    #[error("{message}")]
    StateDict {
        /// The full message, listing every difference.
        message: String,
        /// The differences, one list per kind (empty lists when the error is of another
        /// kind, e.g. a model parameter that is not a leaf).
        report: LoadReport,
    },
}

impl NnError {
    /// A [`NnError::Format`] error about `path`.
    ///
    /// ```
    /// use ferrite_nn::NnError;
    /// let e = NnError::format("a.bin", "truncated");
    /// assert_eq!(e.to_string(), "a.bin: truncated");
    /// ```
    pub fn format(path: impl Into<String>, message: impl Into<String>) -> Self {
        NnError::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`NnError::Invalid`] error of operation `op`.
    ///
    /// ```
    /// use ferrite_nn::NnError;
    /// let e = NnError::invalid("Subset::new", "index 9 is out of range");
    /// assert_eq!(e.to_string(), "Subset::new: index 9 is out of range");
    /// ```
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        NnError::Invalid {
            op,
            message: message.into(),
        }
    }

    /// A [`NnError::Io`] error about `path`.
    ///
    /// ```
    /// use ferrite_nn::NnError;
    /// let e = NnError::io("a.bin", std::io::Error::other("disk full"));
    /// assert_eq!(e.to_string(), "a.bin: disk full");
    /// ```
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NnError::Io {
            path: path.into(),
            source,
        }
    }
}
