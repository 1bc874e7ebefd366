//! Saving and loading parameters: state dicts, ferrite checkpoint files and safetensors.
//!
//! * [`StateDict`] is PyTorch's `state_dict()`: tensors by dotted name, in registration
//!   order; [`state_dict`] takes one from a model and [`load_state_dict`] puts one back,
//!   strictly (all or nothing) or not ([`Strict`], [`LoadReport`]).
//! * [`Checkpoint`] is a training checkpoint: the parameters, an opaque serialized optimizer
//!   state, the epoch, the random generator and free-form metadata, saved to a checksummed
//!   file with an atomic write ([`write_atomic`]).
//! * [`save_safetensors`] / [`load_safetensors`] exchange parameters with PyTorch and the
//!   rest of the ecosystem in the safetensors format (ferrite's layouts are PyTorch's:
//!   Conv2d weights `[out, in/groups, kh, kw]`, Linear weights `[out, in]`).
//! * [`load_torch`] / [`from_torch_bytes`] read the `.pt` / `.pth` files that
//!   `torch.save(model.state_dict(), path)` writes, without Python and without executing
//!   anything from the file (a restricted unpickler with a short allow-list of globals).
//!
//! ```
//! use ferrite_nn::checkpoint::{load_safetensors, save_safetensors, Checkpoint};
//! use ferrite_nn::{load_state_dict, state_dict, Linear, Sequential, Strict};
//! use ferrite_tensor::seeded_rng;
//! let dir = std::env::temp_dir().join(format!("ferrite-doc-ckpt-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let mut rng = seeded_rng(0);
//! let model = Sequential::<f32>::new().add_module("fc1", Linear::new(4, 2));
//!
//! // A training checkpoint...
//! let mut ckpt = Checkpoint::from_model(&model);
//! ckpt.epoch = 3;
//! ckpt.rng = Some(rng.clone());
//! ckpt.save(dir.join("model.ckpt"))?;
//! let loaded: Checkpoint = Checkpoint::load(dir.join("model.ckpt"))?;
//! assert_eq!(loaded, ckpt);
//!
//! // ... and a safetensors export that PyTorch reads with `load_file`.
//! save_safetensors(&state_dict(&model), dir.join("model.safetensors"))?;
//! let fresh = Sequential::<f32>::new().add_module("fc1", Linear::new(4, 2));
//! load_state_dict(&fresh, &load_safetensors(dir.join("model.safetensors"))?, Strict::Yes)?;
//! assert!(state_dict(&fresh) == state_dict(&model));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), ferrite_nn::NnError>(())
//! ```
//!
//! # Errors
//! Everything fallible returns [`NnError`](crate::NnError). Readers never panic on a
//! malformed file and never allocate more than the file's size justifies: every length,
//! offset and shape is checked against the bytes actually present first.

mod file;
mod safetensors;
mod state_dict;
mod torch;

pub use file::{Checkpoint, FORMAT_VERSION, MAGIC, write_atomic, write_atomic_with};
pub use safetensors::{
    from_safetensors_bytes, load_safetensors, save_safetensors, to_safetensors_bytes,
};
pub use state_dict::{LoadReport, StateDict, Strict, load_state_dict, state_dict};
pub use torch::{from_torch_bytes, load_torch};

use ferrite_tensor::{Float, Tensor};

/// The element types that ferrite writes to files, and their sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    F32,
    F64,
}

impl Dtype {
    /// The dtype of `T`.
    pub(crate) fn of<T: Float>() -> Dtype {
        if std::mem::size_of::<T>() == 8 {
            Dtype::F64
        } else {
            Dtype::F32
        }
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }
}

/// Appends the elements of `tensor` (row-major) to `out` as little-endian `dtype` values.
pub(crate) fn extend_le_bytes<T: Float>(tensor: &Tensor<T>, dtype: Dtype, out: &mut Vec<u8>) {
    let view = tensor.as_array();
    out.reserve(view.len() * dtype.size());
    match dtype {
        Dtype::F32 => {
            for &x in view.iter() {
                out.extend_from_slice(&(x.as_f64() as f32).to_le_bytes());
            }
        }
        Dtype::F64 => {
            for &x in view.iter() {
                out.extend_from_slice(&x.as_f64().to_le_bytes());
            }
        }
    }
}

/// The elements encoded in `bytes` (little-endian `dtype` values) converted to `T`.
/// `bytes.len()` must be a multiple of the dtype's size (checked by the callers).
pub(crate) fn decode_le_bytes<T: Float>(bytes: &[u8], dtype: Dtype) -> Vec<T> {
    match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| T::of(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                T::of(f64::from_le_bytes(b))
            })
            .collect(),
    }
}

/// The number of elements of `shape` and their size in bytes for elements of
/// `element_size` bytes, or `None` when no tensor can
/// have that shape (the rules of [`ferrite_tensor::checked_numel`], which also refuses an
/// empty shape whose non-zero dims overflow, such as `[0, 2^63, 4]`).
pub(crate) fn checked_byte_len(shape: &[usize], element_size: usize) -> Option<(usize, usize)> {
    let numel = ferrite_tensor::checked_numel("checked_byte_len", shape).ok()?;
    Some((numel, numel.checked_mul(element_size)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_bytes_round_trip_both_dtypes() {
        let t =
            Tensor::<f64>::from_vec(vec![1.5, -0.1, 3e300, f64::MIN_POSITIVE], &[2, 2]).unwrap();
        let mut b = Vec::new();
        extend_le_bytes(&t, Dtype::F64, &mut b);
        assert_eq!(b.len(), 32);
        assert_eq!(decode_le_bytes::<f64>(&b, Dtype::F64), t.to_vec());
        let t32 = t.cast::<f32>();
        let mut b = Vec::new();
        extend_le_bytes(&t32, Dtype::F32, &mut b);
        assert_eq!(decode_le_bytes::<f32>(&b, Dtype::F32), t32.to_vec());
        // Non-contiguous tensors are written in logical (row-major) order.
        let tt = t.transpose(0, 1).unwrap();
        let mut b = Vec::new();
        extend_le_bytes(&tt, Dtype::F64, &mut b);
        assert_eq!(decode_le_bytes::<f64>(&b, Dtype::F64), tt.to_vec());
    }

    #[test]
    fn byte_len_overflow_is_none() {
        assert_eq!(checked_byte_len(&[2, 3], Dtype::F64.size()), Some((6, 48)));
        assert_eq!(checked_byte_len(&[], Dtype::F32.size()), Some((1, 4)));
        assert_eq!(checked_byte_len(&[usize::MAX, 2], Dtype::F32.size()), None);
        assert_eq!(checked_byte_len(&[usize::MAX / 2], Dtype::F32.size()), None);
        // Empty, but the non-zero dims overflow isize: no tensor has this shape.
        assert_eq!(checked_byte_len(&[0, 1 << 63, 4], Dtype::F32.size()), None);
        assert_eq!(
            checked_byte_len(&[0, 1 << 61], Dtype::F64.size()),
            Some((0, 0))
        );
        assert_eq!(checked_byte_len(&[1 << 61], Dtype::F64.size()), None);
    }
}
