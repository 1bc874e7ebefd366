//! The error type of every fallible tensor operation.

use std::fmt;

/// What went wrong in a tensor operation.
///
/// Every variant names the operation (`op`) so that a message such as
/// `conv2d: input has 3 channels but weight expects 1 (input [8, 3, 28, 28], weight [16, 1, 3, 3])`
/// tells the user where to look.
///
/// ```
/// use ferrite_tensor::{Tensor, TensorError};
/// let a = Tensor::<f32>::zeros(&[2, 3]);
/// let b = Tensor::<f32>::zeros(&[4]);
/// let err = a.add(&b).unwrap_err();
/// assert!(matches!(err, TensorError::Shape { op: "add", .. }));
/// assert_eq!(err.to_string(), "add: shapes [2, 3] and [4] cannot be broadcast together");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorError {
    /// The shapes of the operands do not fit the operation.
    Shape {
        /// The operation that refused its inputs.
        op: &'static str,
        /// A sentence saying what was expected and what was found.
        message: String,
    },
    /// An argument (a dimension, a size, a parameter) is out of range or inconsistent.
    InvalidArgument {
        /// The operation that refused its arguments.
        op: &'static str,
        /// A sentence saying what was expected and what was found.
        message: String,
    },
}

impl TensorError {
    /// A shape error of operation `op`.
    pub fn shape(op: &'static str, message: impl Into<String>) -> Self {
        TensorError::Shape {
            op,
            message: message.into(),
        }
    }

    /// An invalid-argument error of operation `op`.
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        TensorError::InvalidArgument {
            op,
            message: message.into(),
        }
    }

    /// The name of the operation that failed.
    pub fn op(&self) -> &'static str {
        match self {
            TensorError::Shape { op, .. } | TensorError::InvalidArgument { op, .. } => op,
        }
    }
}

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorError::Shape { op, message } | TensorError::InvalidArgument { op, message } => {
                write!(f, "{op}: {message}")
            }
        }
    }
}

impl std::error::Error for TensorError {}

/// `Result` with [`TensorError`] as its error.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;
