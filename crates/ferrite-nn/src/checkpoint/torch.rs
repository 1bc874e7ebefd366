//! PyTorch's `.pt` / `.pth` files: what `torch.save(model.state_dict(), path)` writes, read
//! without Python and without executing anything.
//!
//! Since PyTorch 1.6 such a file is a zip archive of stored (uncompressed) entries under one
//! top folder (its name varies): `data.pkl`, a pickle of the state dict whose tensors refer
//! to storages by key; `data/<key>`, the raw bytes of each storage; `byteorder` (`little`
//! or `big`; absent in files of older versions, which are little-endian); `version` and a
//! few other records, which are not needed. The pickle is run by a restricted unpickler
//! that knows only the globals of a state dict (`collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter` and the storage
//! types of the supported dtypes): any other global is refused with its name before
//! anything else happens, and no Python code is ever run.

mod pickle;
mod zip;

use std::collections::HashSet;
use std::path::Path;

use ferrite_tensor::{Float, Tensor};

use super::safetensors::{FileDtype, decode_ints};
use super::state_dict::StateDict;
use super::{Dtype, checked_byte_len, decode_le_bytes};
use crate::NnError;
use pickle::{Machine, Object, StorageDtype, TensorRef, Value};
use zip::ZipArchive;

/// The first bytes of a legacy (PyTorch < 1.6) file: protocol-2 pickle of a `LONG1` magic
/// number.
const LEGACY_MAGIC: [u8; 14] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
];

/// How deeply dicts may nest (a state dict inside a checkpoint dict is depth 2).
const MAX_DEPTH: usize = 64;

/// The tensors of a file may hold at most this many elements per byte of the file:
/// views that share a storage (tied weights) are each decoded, but a few bytes of pickle
/// cannot make the reader produce gigabytes.
const ELEMENTS_PER_FILE_BYTE: usize = 8;

/// Reads a `.pt` / `.pth` file written by `torch.save(model.state_dict(), path)` into a
/// [`StateDict`], converting float32, float64, float16 and bfloat16 tensors to `T` (and
/// int64/int32 counters such as BatchNorm's `num_batches_tracked` when `T` holds them
/// exactly, as [`load_safetensors`](super::load_safetensors) does).
///
/// Load it into a model with [`load_state_dict`](super::load_state_dict), strictly or not:
/// missing, unexpected and wrong-shape keys are reported exactly as for safetensors files.
/// A checkpoint dict such as `{"model": model.state_dict(), "epoch": 3}` is read too: nested
/// dicts are flattened with dotted names (`model.conv1.weight`) and values that are not
/// tensors or dicts (numbers, strings, lists) are skipped; take the model's part with
/// [`StateDict::strip_prefix`]. Views are read as PyTorch shows them (storage offset,
/// sizes and strides, e.g. a transposed weight saved without `.contiguous()`).
///
/// # Errors
/// [`NnError::Io`] when the file cannot be read; otherwise as [`from_torch_bytes`], with
/// the path in the message.
///
/// ```
/// use ferrite_nn::checkpoint::{load_state_dict, load_torch, Strict};
/// use ferrite_nn::models::small_cnn;
/// # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/torch_small_cnn.pt");
/// // torch.save(model.state_dict(), "torch_small_cnn.pt") with PyTorch's SmallCnn
/// let state = load_torch::<f32>(path)?;
/// assert_eq!(state.get("conv1.weight").unwrap().shape(), &[16, 1, 3, 3]);
/// let model = small_cnn::<f32>([28, 28])?;
/// assert!(load_state_dict(&model, &state, Strict::Yes)?.is_clean());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_torch<T: Float>(path: impl AsRef<Path>) -> Result<StateDict<T>, NnError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    from_torch_bytes(&bytes, &path.display().to_string())
}

/// Reads the bytes of a `.pt` / `.pth` file (see [`load_torch`]); `name` (a path or any
/// label) is used in error messages.
///
/// # Errors
/// [`NnError::Format`] naming `name` when: the bytes are a legacy (PyTorch < 1.6) file (the
/// message says to re-save it with a newer PyTorch), a TorchScript archive, or not a zip
/// archive at all; the archive is truncated or corrupt (any offset or length outside the
/// file), an entry needed is compressed, or `data.pkl` is missing; the pickle asks for a
/// global outside the allow-list (the message names it, e.g. `os.system`; nothing is
/// executed), uses an opcode a state dict does not need, or is malformed; the pickled
/// object is not a dict, or nests dicts more than 64 deep or shares one; a storage has a
/// dtype other than float32/float64/float16/bfloat16 (or int64/int32), is missing, or has
/// a size other than its header's; a tensor's view reaches past the end of its storage;
/// an integer is not exactly representable in `T`; two entries get the same name; the
/// tensors hold more than 8 elements per byte of the file. Never panics.
///
/// ```
/// use ferrite_nn::checkpoint::from_torch_bytes;
/// let err = from_torch_bytes::<f32>(b"PK\x03\x04 cut short", "model.pt").unwrap_err();
/// assert!(err.to_string().starts_with("model.pt: truncated or corrupt zip archive"), "{err}");
/// ```
pub fn from_torch_bytes<T: Float>(bytes: &[u8], name: &str) -> Result<StateDict<T>, NnError> {
    let fail = |message: String| NnError::format(name, message);
    check_container(bytes, &fail)?;
    let archive = ZipArchive::parse(bytes, &fail)?;
    let prefix = find_prefix(&archive, &fail)?;
    let big_endian = byte_order(&archive, &prefix, &fail)?;
    let pickle_entry = archive
        .find(&format!("{prefix}data.pkl"))
        .ok_or_else(|| fail("no data.pkl in the archive".into()))?;
    let code = archive.data(pickle_entry, &fail)?;
    let (machine, root) = Machine::run(code).map_err(|e| fail(format!("{prefix}data.pkl: {e}")))?;
    let tensors = flatten(&machine, root, &fail)?;
    let mut budget = bytes.len().saturating_mul(ELEMENTS_PER_FILE_BYTE);
    let mut state = StateDict::new();
    for (key, tensor) in tensors {
        let source = Source {
            archive: &archive,
            prefix: &prefix,
            big_endian,
        };
        let value = decode_tensor::<T>(&source, &key, tensor, &mut budget, &fail)?;
        if state.insert(key.clone(), value).is_some() {
            return Err(fail(format!("two entries are called '{key}'")));
        }
    }
    Ok(state)
}

/// Refuses what is not a zip archive with a message saying what it is instead.
fn check_container(bytes: &[u8], fail: &dyn Fn(String) -> NnError) -> Result<(), NnError> {
    if bytes.starts_with(&LEGACY_MAGIC) || bytes.get(257..262) == Some(b"ustar") {
        return Err(fail(
            "this is a file in PyTorch's legacy format (torch < 1.6), which ferrite does not \
             read: load it in PyTorch and save it again with torch.save(state_dict, path) \
             (PyTorch >= 1.6 writes the zip format)"
                .into(),
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Ok(());
    }
    let head = bytes[..bytes.len().min(8)].escape_ascii();
    let hint = if bytes.starts_with(&super::MAGIC) {
        ": it is a ferrite checkpoint, read it with Checkpoint::load"
    } else if bytes.len() >= 9 && bytes[8] == b'{' {
        ": it looks like a safetensors file, read it with load_safetensors"
    } else {
        ""
    };
    Err(fail(format!(
        "not a PyTorch .pt file: expected a zip archive starting with \"PK\\x03\\x04\", found \
         \"{head}\"{hint}"
    )))
}

/// The top folder of the archive (`archive/` in `archive/data.pkl`), from its `data.pkl`.
fn find_prefix(
    archive: &ZipArchive<'_>,
    fail: &dyn Fn(String) -> NnError,
) -> Result<String, NnError> {
    let found = archive.entries.iter().find_map(|e| {
        let prefix = e.name.strip_suffix("data.pkl")?;
        let top = prefix.is_empty() || prefix.find('/') == Some(prefix.len() - 1);
        top.then(|| prefix.to_string())
    });
    if let Some(prefix) = found {
        return Ok(prefix);
    }
    let torchscript = archive
        .entries
        .iter()
        .any(|e| e.name.ends_with("constants.pkl") || e.name.contains("/code/"));
    Err(fail(if torchscript {
        "this is a TorchScript archive (torch.jit.save), not a state dict: save \
         model.state_dict() with torch.save instead"
            .into()
    } else {
        format!(
            "a zip archive without data.pkl (entries: {}): not a file written by torch.save",
            archive
                .entries
                .iter()
                .take(5)
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }))
}

/// True when the storages are big-endian (the `byteorder` record).
fn byte_order(
    archive: &ZipArchive<'_>,
    prefix: &str,
    fail: &dyn Fn(String) -> NnError,
) -> Result<bool, NnError> {
    let Some(entry) = archive.find(&format!("{prefix}byteorder")) else {
        return Ok(false);
    };
    match archive.data(entry, fail)? {
        b"little" => Ok(false),
        b"big" => Ok(true),
        other => Err(fail(format!(
            "the byteorder record is \"{}\", expected \"little\" or \"big\"",
            other[..other.len().min(16)].escape_ascii()
        ))),
    }
}

/// The tensors of the pickled dict, with nested dicts flattened into dotted names; values
/// that are neither tensors nor dicts are skipped.
fn flatten<'m>(
    machine: &'m Machine<'_>,
    root: Value,
    fail: &dyn Fn(String) -> NnError,
) -> Result<Vec<(String, &'m TensorRef)>, NnError> {
    match machine.object(root) {
        Some(Object::Dict(_)) => {}
        other => {
            return Err(fail(format!(
                "the file holds a {}, not a state dict (a dict of tensors): save \
                 model.state_dict()",
                other.map_or("number or None", Object::kind)
            )));
        }
    }
    let mut out = Vec::new();
    let mut walk = Walk {
        machine,
        seen: HashSet::new(),
        fail,
    };
    walk.dict(root, "", 1, &mut out)?;
    Ok(out)
}

/// A depth-first walk of nested dicts, in the file's order.
struct Walk<'m, 'c, 'f> {
    machine: &'m Machine<'c>,
    seen: HashSet<usize>,
    fail: &'f dyn Fn(String) -> NnError,
}

impl<'m> Walk<'m, '_, '_> {
    fn dict(
        &mut self,
        dict: Value,
        prefix: &str,
        depth: usize,
        out: &mut Vec<(String, &'m TensorRef)>,
    ) -> Result<(), NnError> {
        let fail = self.fail;
        let (Value::Obj(id), Some(Object::Dict(items))) = (dict, self.machine.object(dict)) else {
            return Ok(());
        };
        // A dict reached twice would be read twice (or forever, for a cycle).
        if !self.seen.insert(id) {
            return Err(fail(format!(
                "the dict at '{prefix}' appears twice in the file: ferrite reads trees of dicts"
            )));
        }
        if depth > MAX_DEPTH {
            return Err(fail(format!(
                "dicts nest more than {MAX_DEPTH} deep at '{prefix}'"
            )));
        }
        for &(key, value) in items {
            let name = format!("{prefix}{}", key_name(self.machine, key, prefix, fail)?);
            match self.machine.object(value) {
                Some(Object::Tensor(t)) => out.push((name, t)),
                Some(Object::Dict(_)) => self.dict(value, &format!("{name}."), depth + 1, out)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// A dict key as a name: strings as they are, integers in decimal.
fn key_name(
    machine: &Machine<'_>,
    key: Value,
    prefix: &str,
    fail: &dyn Fn(String) -> NnError,
) -> Result<String, NnError> {
    match (key, machine.object(key)) {
        (_, Some(Object::Str(s))) => Ok(s.clone()),
        (Value::Int(n), _) => Ok(n.to_string()),
        (_, other) => Err(fail(format!(
            "a key of the dict at '{prefix}' is a {}, not a string",
            other.map_or("number or None", Object::kind)
        ))),
    }
}

/// Where the storages are.
struct Source<'s, 'a> {
    archive: &'s ZipArchive<'a>,
    prefix: &'s str,
    big_endian: bool,
}

/// Reads one tensor: checks its storage and view against the archive, then gathers and
/// converts its elements.
fn decode_tensor<T: Float>(
    source: &Source<'_, '_>,
    name: &str,
    tensor: &TensorRef,
    budget: &mut usize,
    fail: &dyn Fn(String) -> NnError,
) -> Result<Tensor<T>, NnError> {
    let storage = &tensor.storage;
    let (dtype, key) = (storage.dtype, &storage.key);
    let path = format!("{}data/{key}", source.prefix);
    let entry = source.archive.find(&path).ok_or_else(|| {
        fail(format!(
            "tensor '{name}': its storage {path} is not in the archive"
        ))
    })?;
    let data = source.archive.data(entry, fail)?;
    let expected = storage.numel.checked_mul(dtype.size() as u64);
    if expected != Some(data.len() as u64) {
        return Err(fail(format!(
            "tensor '{name}': storage {path} should hold {} {} elements, but has {} bytes",
            storage.numel,
            dtype.name(),
            data.len()
        )));
    }
    let shape = checked_view(name, tensor, fail)?;
    let numel = shape.iter().product::<usize>();
    *budget = budget.checked_sub(numel).ok_or_else(|| {
        fail(format!(
            "tensor '{name}' makes the tensors hold more than {ELEMENTS_PER_FILE_BYTE} \
             elements per byte of the file: views of a shared storage that a file this \
             size does not justify"
        ))
    })?;
    let bytes = gather(data, tensor, dtype.size(), numel, source.big_endian);
    let values = convert::<T>(&bytes, dtype).map_err(|v| {
        fail(format!(
            "tensor '{name}' ({}) holds {v}, which {} cannot represent exactly",
            dtype.name(),
            T::NAME
        ))
    })?;
    Tensor::from_vec(values, &shape).map_err(|e| fail(format!("tensor '{name}': {e}")))
}

/// Checks that the view's shape is addressable and that every element it reaches is inside
/// its storage; returns the shape.
fn checked_view(
    name: &str,
    t: &TensorRef,
    fail: &dyn Fn(String) -> NnError,
) -> Result<Vec<usize>, NnError> {
    let shape: Option<Vec<usize>> = t.sizes.iter().map(|&d| usize::try_from(d).ok()).collect();
    let shape = shape
        .filter(|s| checked_byte_len(s, t.storage.dtype.size()).is_some())
        .ok_or_else(|| {
            fail(format!(
                "tensor '{name}': shape {:?} is too large (more elements or bytes than a \
                 tensor can address, isize::MAX)",
                t.sizes
            ))
        })?;
    if shape.contains(&0) {
        return Ok(shape);
    }
    // The last element the view reaches, in u128: sizes and strides are below 2^63.
    let last = t
        .sizes
        .iter()
        .zip(&t.strides)
        .map(|(&n, &s)| u128::from(n - 1) * u128::from(s))
        .sum::<u128>()
        + u128::from(t.offset);
    if last >= u128::from(t.storage.numel) {
        return Err(fail(format!(
            "tensor '{name}': its view (storage offset {}, sizes {:?}, strides {:?}) reaches \
             element {last} of storage '{}', which has only {} elements",
            t.offset, t.sizes, t.strides, t.storage.key, t.storage.numel
        )));
    }
    Ok(shape)
}

/// The view's elements in row-major order as little-endian bytes. The view was checked to
/// lie inside `data` ([`checked_view`]).
fn gather(data: &[u8], t: &TensorRef, size: usize, numel: usize, big_endian: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(numel * size);
    let mut push = |index: u64| {
        let start = index as usize * size;
        if let Some(element) = data.get(start..start + size) {
            if big_endian {
                out.extend(element.iter().rev());
            } else {
                out.extend_from_slice(element);
            }
        }
    };
    if numel == 0 {
        return out;
    }
    let dims = t.sizes.len();
    let mut index = vec![0u64; dims];
    let mut position = t.offset;
    for _ in 0..numel {
        push(position);
        // Advance the multi-index like an odometer; wrapping arithmetic is exact here
        // because every position visited lies inside the storage.
        for d in (0..dims).rev() {
            index[d] += 1;
            position = position.wrapping_add(t.strides[d]);
            if index[d] < t.sizes[d] {
                break;
            }
            position = position.wrapping_sub(t.strides[d].wrapping_mul(t.sizes[d]));
            index[d] = 0;
        }
    }
    out
}

/// Little-endian elements of `dtype` as `T`, or the first integer `T` cannot hold exactly.
fn convert<T: Float>(bytes: &[u8], dtype: StorageDtype) -> Result<Vec<T>, i64> {
    Ok(match dtype {
        StorageDtype::F32 => decode_le_bytes(bytes, Dtype::F32),
        StorageDtype::F64 => decode_le_bytes(bytes, Dtype::F64),
        StorageDtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| T::of(f16_to_f64(u16::from_le_bytes([c[0], c[1]]))))
            .collect(),
        StorageDtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| {
                let bits = u32::from(u16::from_le_bytes([c[0], c[1]])) << 16;
                T::of(f64::from(f32::from_bits(bits)))
            })
            .collect(),
        StorageDtype::I64 => decode_ints(bytes, FileDtype::I64)?,
        StorageDtype::I32 => decode_ints(bytes, FileDtype::I32)?,
    })
}

/// An IEEE 754 half-precision value, exactly.
fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let fraction = f64::from(h & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + fraction / 1024.0) * 2f64.powi(e - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
        assert_eq!(f16_to_f64(0x8000), 0.0);
    }
}
